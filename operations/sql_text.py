"""SQL scripts as statements: what the deploy sends one by one, and what `mempool sql`
and the local runtime run the same way."""

from __future__ import annotations


def split_statements(sql: str) -> list[str]:
    """Split a script on semicolons outside quotes, $$ bodies and comments."""
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(sql)
    quote: str | None = None
    while i < n:
        ch = sql[i]
        two = sql[i : i + 2]
        if quote:
            buf.append(ch)
            if quote == "$$" and two == "$$":
                buf.append("$")
                i += 2
                quote = None
                continue
            if quote != "$$" and ch == quote:
                quote = None
            i += 1
            continue
        if two == "--":
            end = sql.find("\n", i)
            i = n if end == -1 else end
            continue
        if two == "/*":
            end = sql.find("*/", i + 2)
            i = n if end == -1 else end + 2
            continue
        if two == "$$":
            quote = "$$"
            buf.append(two)
            i += 2
            continue
        if ch in ("'", '"'):
            quote = ch
        if ch == ";":
            stmt = "".join(buf).strip()
            if stmt:
                statements.append(stmt)
            buf = []
        else:
            buf.append(ch)
        i += 1
    tail = "".join(buf).strip()
    if tail:
        statements.append(tail)
    return statements
