"""Snowflake's access control, as far as the deploy and the running pipeline touch it.

The local runtime skips every GRANT, so nothing local proves a role may do what a
deploy step asks of it. This model replays the deploy plan instead: each statement,
run as its step's role, must be allowed by the grants and ownerships the earlier
statements created; then each running part (pipes, tasks, procedures, dbt, the
dashboard) must be allowed what it does at run time.

The privileges each statement kind needs come from the "Access control requirements"
section of its page in Snowflake's SQL reference:
  CREATE ROLE            https://docs.snowflake.com/en/sql-reference/sql/create-role
  GRANT <privileges>     https://docs.snowflake.com/en/sql-reference/sql/grant-privilege
  GRANT ROLE             https://docs.snowflake.com/en/sql-reference/sql/grant-role
  CREATE USER            https://docs.snowflake.com/en/sql-reference/sql/create-user
  GRANT EXECUTE TASK, EXECUTE MANAGED TASK ON ACCOUNT
                         https://docs.snowflake.com/en/user-guide/tasks-intro (task security:
                         granted with ACCOUNTADMIN active; no page lets SECURITYADMIN)
  ALTER TABLE            https://docs.snowflake.com/en/sql-reference/sql/alter-table
  UPDATE                 https://docs.snowflake.com/en/sql-reference/sql/update
  DROP TASK              https://docs.snowflake.com/en/sql-reference/sql/drop-task
  DROP <object>          OWNERSHIP of the object, for every kind the teardown drops:
                         https://docs.snowflake.com/en/sql-reference/sql/drop-streamlit
                         https://docs.snowflake.com/en/sql-reference/sql/drop-dbt-project
                         https://docs.snowflake.com/en/sql-reference/sql/drop-pipe
                         https://docs.snowflake.com/en/sql-reference/sql/drop-database
                         https://docs.snowflake.com/en/sql-reference/sql/drop-warehouse
                         https://docs.snowflake.com/en/sql-reference/sql/drop-integration
                         https://docs.snowflake.com/en/sql-reference/sql/drop-user
                         https://docs.snowflake.com/en/sql-reference/sql/drop-role
  CREATE WAREHOUSE       https://docs.snowflake.com/en/sql-reference/sql/create-warehouse
  CREATE DATABASE        https://docs.snowflake.com/en/sql-reference/sql/create-database
  CREATE SCHEMA          https://docs.snowflake.com/en/sql-reference/sql/create-schema
  CREATE ... INTEGRATION https://docs.snowflake.com/en/sql-reference/sql/create-storage-integration
                         https://docs.snowflake.com/en/sql-reference/sql/create-notification-integration-queue-outbound-aws
  CREATE FILE FORMAT     https://docs.snowflake.com/en/sql-reference/sql/create-file-format
  ALTER FILE FORMAT      https://docs.snowflake.com/en/sql-reference/sql/alter-file-format
  CREATE STAGE           https://docs.snowflake.com/en/sql-reference/sql/create-stage
  CREATE TABLE           https://docs.snowflake.com/en/sql-reference/sql/create-table
  CREATE PIPE            https://docs.snowflake.com/en/sql-reference/sql/create-pipe
  CREATE VIEW            https://docs.snowflake.com/en/sql-reference/sql/create-view
  CREATE STREAM          https://docs.snowflake.com/en/sql-reference/sql/create-stream
  CREATE PROCEDURE       https://docs.snowflake.com/en/sql-reference/sql/create-procedure
  CREATE TASK            https://docs.snowflake.com/en/sql-reference/sql/create-task
  ALTER TASK             https://docs.snowflake.com/en/sql-reference/sql/alter-task
  EXECUTE TASK           https://docs.snowflake.com/en/sql-reference/sql/execute-task (usage
                         notes: OWNERSHIP or OPERATE on the task; the owner's role needs
                         USAGE on the task's warehouse and the global EXECUTE TASK)
  SYSTEM$TASK_DEPENDENTS_ENABLE
                         https://docs.snowflake.com/en/sql-reference/functions/system_task_dependents_enable
  CREATE DBT PROJECT     https://docs.snowflake.com/en/sql-reference/sql/create-dbt-project
  EXECUTE DBT PROJECT    https://docs.snowflake.com/en/sql-reference/sql/execute-dbt-project
  CREATE STREAMLIT       https://docs.snowflake.com/en/sql-reference/sql/create-streamlit
  CREATE ALERT           https://docs.snowflake.com/en/sql-reference/sql/create-alert (EXECUTE
                         ALERT on the account, EXECUTE MANAGED ALERT for a serverless one,
                         CREATE ALERT on the schema)
  GRANT DATABASE ROLE SNOWFLAKE.ALERT_VIEWER
                         https://docs.snowflake.com/en/sql-reference/functions/get_condition_query_uuid
                         (the alerts' actions call it), granted as ACCOUNTADMIN
                         https://docs.snowflake.com/en/sql-reference/snowflake-db-roles
  ALTER ALERT            https://docs.snowflake.com/en/sql-reference/sql/alter-alert (RESUME: the
                         owner holds EXECUTE ALERT (+ EXECUTE MANAGED ALERT when serverless);
                         only ACCOUNTADMIN grants EXECUTE ALERT)
  INSERT                 https://docs.snowflake.com/en/sql-reference/sql/insert
  MERGE                  https://docs.snowflake.com/en/sql-reference/sql/merge (INSERT and
                         UPDATE on the target for its WHEN NOT MATCHED / WHEN MATCHED clauses)
  Task owner's rights    https://docs.snowflake.com/en/user-guide/tasks-intro (task security)
  Serverless tasks       https://docs.snowflake.com/en/user-guide/tasks-intro (EXECUTE MANAGED TASK)
  Streamlit owner's rights
                         https://docs.snowflake.com/en/developer-guide/streamlit/owners-rights
  System roles           https://docs.snowflake.com/en/user-guide/security-access-control-overview

Length: one rule per kind of statement the deploy and the teardown issue, each
citing its documentation page; split, the rules would lose the one account they share.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

ACCOUNT = ("ACCOUNT", "ACCOUNT")

# What the system roles hold out of the box (the overview page's table of system roles).
SYSTEM_ROLE_PRIVILEGES = {
    "USERADMIN": {"CREATE ROLE", "CREATE USER"},
    "SECURITYADMIN": {"MANAGE GRANTS"},
    "SYSADMIN": {"CREATE WAREHOUSE", "CREATE DATABASE"},
    "ACCOUNTADMIN": {"CREATE INTEGRATION", "EXECUTE TASK", "EXECUTE MANAGED TASK"},
}
SYSTEM_ROLE_HIERARCHY = {
    "SECURITYADMIN": {"USERADMIN"},
    "ACCOUNTADMIN": {"SECURITYADMIN", "SYSADMIN"},
}

# Object kinds as GRANT ... ON <kind> and CREATE <kind> name them.
KINDS = [
    "DBT PROJECT",
    "FILE FORMAT",
    "STORAGE INTEGRATION",
    "NOTIFICATION INTEGRATION",
    "INTEGRATION",
    "WAREHOUSE",
    "DATABASE",
    "SCHEMA",
    "TABLE",
    "VIEW",
    "STAGE",
    "PIPE",
    "STREAM",
    "TASK",
    "PROCEDURE",
    "STREAMLIT",
    "ALERT",
]


def kind_of(kind: str) -> str:
    return "INTEGRATION" if kind.endswith("INTEGRATION") else kind


Obj = tuple[str, str]  # (kind, fully qualified upper-case name)

# What only the ACCOUNTADMIN role is documented to do (no privilege stands for it).
ACCOUNTADMIN_ONLY = "the ACCOUNTADMIN role"
# Global privileges Snowflake's pages grant only with ACCOUNTADMIN active.
ACCOUNTADMIN_GRANTS = {
    "EXECUTE TASK",
    "EXECUTE MANAGED TASK",
    "EXECUTE ALERT",
    "EXECUTE MANAGED ALERT",
    "MONITOR USAGE",
}

# Information Schema usage functions that return rows only for ACCOUNTADMIN or a role
# granted MONITOR USAGE (each page's usage notes):
# https://docs.snowflake.com/en/sql-reference/functions/warehouse_metering_history
# https://docs.snowflake.com/en/sql-reference/functions/serverless_task_history
# https://docs.snowflake.com/en/sql-reference/functions/serverless_alert_history
# https://docs.snowflake.com/en/sql-reference/functions/pipe_usage_history
USAGE_FUNCTIONS = (
    "WAREHOUSE_METERING_HISTORY",
    "SERVERLESS_TASK_HISTORY",
    "SERVERLESS_ALERT_HISTORY",
    "PIPE_USAGE_HISTORY",
)


@dataclass(frozen=True)
class Need:
    privilege: str
    obj: Obj
    why: str

    def __str__(self) -> str:
        return f"{self.privilege} on {self.obj[0]} {self.obj[1]} ({self.why})"


@dataclass
class Account:
    grants: dict[str, set[tuple[str, Obj]]] = field(default_factory=lambda: defaultdict(set))
    owners: dict[Obj, str] = field(default_factory=dict)
    parents: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    future: dict[tuple[str, str], set[tuple[str, str]]] = field(
        default_factory=lambda: defaultdict(set)
    )  # (kind, schema) -> {(privilege, role)}
    change_tracking: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)
    users: dict[str, set[str]] = field(default_factory=dict)  # user -> roles granted
    task_warehouses: dict[str, str] = field(default_factory=dict)  # task -> its WAREHOUSE

    def __post_init__(self) -> None:
        for role, privileges in SYSTEM_ROLE_PRIVILEGES.items():
            self.roles.add(role)
            for privilege in privileges:
                self.grants[role].add((privilege, ACCOUNT))
        for role, children in SYSTEM_ROLE_HIERARCHY.items():
            self.parents[role] |= children

    def closure(self, role: str) -> set[str]:
        """The role and every role granted to it, transitively."""
        seen, todo = set(), [role]
        while todo:
            r = todo.pop()
            if r not in seen:
                seen.add(r)
                todo.extend(self.parents.get(r, ()))
        return seen

    def allows(self, role: str, need: Need) -> bool:
        roles = self.closure(role)
        if "ACCOUNTADMIN" in roles:
            return True
        if need.privilege == ACCOUNTADMIN_ONLY:
            return False
        if self.owners.get(need.obj) in roles:
            return True
        if need.privilege == "OWNERSHIP":
            return False
        return any((need.privilege, need.obj) in self.grants[r] for r in roles)

    def create(self, role: str, obj: Obj) -> None:
        self.owners[obj] = role
        kind, name = obj
        schema = name.rsplit(".", 1)[0]
        for privilege, grantee in self.future.get((kind, schema), ()):
            self.grants[grantee].add((privilege, obj))


def qualify(name: str, database: str, schema: str = "") -> str:
    name = name.upper().strip('"')
    parts = name.split(".")
    if len(parts) == 3 or not schema:
        return name
    return f"{database}.{schema}.{name}" if len(parts) == 1 else f"{database}.{name}"


def in_schema(name: str) -> str:
    return name.rsplit(".", 1)[0]


def schema_needs(name: str, privilege: str, why: str) -> list[Need]:
    """USAGE on the database and schema, and the CREATE privilege on the schema."""
    schema = in_schema(name)
    database = schema.split(".")[0]
    return [
        Need("USAGE", ("DATABASE", database), why),
        Need("USAGE", ("SCHEMA", schema), why),
        Need(privilege, ("SCHEMA", schema), why),
    ]


def norm(statement: str) -> str:
    return re.sub(r"\s+", " ", statement).strip().rstrip(";").upper()


class UnknownStatement(ValueError):
    pass


Effect = Callable[[], object]


def statement_needs(account: Account, role: str, statement: str) -> tuple[list[Need], Effect]:
    """What the statement requires of its role, and how it changes the account."""
    s = norm(statement)

    if m := re.match(r"^CREATE ROLE (?:IF NOT EXISTS )?(\S+)$", s):
        name = m[1]
        return [Need("CREATE ROLE", ACCOUNT, s)], lambda: (
            account.roles.add(name),
            account.create(role, ("ROLE", name)),
        )

    if m := re.match(r"^GRANT ROLE (\S+) TO ROLE (\S+)$", s):
        granted, grantee = m[1], m[2]
        needs = (
            []
            if account.allows(role, Need("OWNERSHIP", ("ROLE", granted), s))
            else [Need("MANAGE GRANTS", ACCOUNT, s)]
        )
        return needs, lambda: account.parents[grantee].add(granted)

    if m := re.match(r"^GRANT DATABASE ROLE SNOWFLAKE\.(\w+) TO ROLE (\S+)$", s):
        # The SNOWFLAKE database is Snowflake's own (imported, shared): its database roles
        # are granted with ACCOUNTADMIN active, as the pages that need one show it.
        database_role, grantee = m[1], m[2]
        return [Need(ACCOUNTADMIN_ONLY, ACCOUNT, s)], lambda: account.grants[grantee].add(
            (database_role, ("DATABASE ROLE", f"SNOWFLAKE.{database_role}"))
        )

    if m := re.match(r"^GRANT (.+?) ON ACCOUNT TO ROLE (\S+)$", s):
        privileges, grantee = [p.strip() for p in m[1].split(",")], m[2]
        needs = [Need("MANAGE GRANTS", ACCOUNT, s)]
        if set(privileges) & ACCOUNTADMIN_GRANTS:
            needs.append(Need(ACCOUNTADMIN_ONLY, ACCOUNT, s))
        return needs, lambda: [account.grants[grantee].add((p, ACCOUNT)) for p in privileges]

    if m := re.match(r"^CREATE USER (?:IF NOT EXISTS )?(\S+)", s):
        name = m[1]
        return [Need("CREATE USER", ACCOUNT, s)], lambda: (
            account.users.setdefault(name, set()),
            account.create(role, ("USER", name)),
        )

    if m := re.match(r"^GRANT ROLE (\S+) TO USER (\S+)$", s):
        granted, user = m[1], m[2]
        needs = (
            []
            if account.allows(role, Need("OWNERSHIP", ("ROLE", granted), s))
            else [Need("MANAGE GRANTS", ACCOUNT, s)]
        )
        if user not in account.users:
            needs.append(Need("an existing user", ("USER", user), s))
        return needs, lambda: account.users[user].add(granted)

    if m := re.match(r"^ALTER TABLE (?:IF EXISTS )?(\S+) ADD COLUMN ", s):
        return [Need("OWNERSHIP", ("TABLE", m[1]), s)], lambda: None

    if m := re.match(r"^INSERT INTO (\S+?) ?\(", s):
        return [Need("INSERT", ("TABLE", m[1]), s)], lambda: None

    if m := re.match(r"^UPDATE (\S+) SET ", s):
        return [Need("UPDATE", ("TABLE", m[1]), s)], lambda: None

    if m := re.match(r"^MERGE INTO (\S+) ", s):
        target = ("TABLE", m[1])
        return [Need("INSERT", target, s), Need("UPDATE", target, s)], lambda: None

    if m := re.match(r"^DROP TASK (IF EXISTS )?(\S+)$", s):
        exists = ("TASK", m[2]) in account.owners
        needs = [Need("OWNERSHIP", ("TASK", m[2]), s)] if exists or not m[1] else []
        return needs, lambda: account.owners.pop(("TASK", m[2]), None)

    if m := re.match(
        r"^DROP (ALERT|STREAMLIT|DBT PROJECT|PIPE|DATABASE|WAREHOUSE|INTEGRATION|ROLE|USER) "
        r"(IF EXISTS )?(\S+)$",
        s,
    ):
        obj = (m[1], m[3])
        needs = [Need("OWNERSHIP", obj, s)] if obj in account.owners or not m[2] else []
        if needs and obj[1].count(".") == 2:
            # An object in a schema: its owner reaches it through the database and schema.
            needs = [
                Need("USAGE", ("DATABASE", obj[1].split(".")[0]), s),
                Need("USAGE", ("SCHEMA", in_schema(obj[1])), s),
                *needs,
            ]

        def drop() -> None:
            inside = f"{obj[1]}." if obj[0] == "DATABASE" else None
            for owned in list(account.owners):
                if owned == obj or (inside and owned[1].startswith(inside)):
                    del account.owners[owned]
            if obj[0] == "ROLE":
                account.roles.discard(obj[1])
                account.parents.pop(obj[1], None)
            if obj[0] == "USER":
                account.users.pop(obj[1], None)

        return needs, drop

    if m := re.match(r"^GRANT (.+?) ON FUTURE (\w+(?: \w+)?)S IN SCHEMA (\S+) TO ROLE (\S+)$", s):
        privileges = [p.strip() for p in m[1].split(",")]
        kind, schema, grantee = m[2], m[3], m[4]
        return [Need("MANAGE GRANTS", ACCOUNT, s)], lambda: [
            account.future[(kind, schema)].add((p, grantee)) for p in privileges
        ]

    if m := re.match(r"^GRANT (.+?) ON ALL (\w+(?: \w+)?)S IN SCHEMA (\S+) TO ROLE (\S+)$", s):
        privileges = [p.strip() for p in m[1].split(",")]
        kind, schema, grantee = m[2], m[3], m[4]
        existing = [o for o in account.owners if o[0] == kind and o[1].startswith(f"{schema}.")]
        return [Need("MANAGE GRANTS", ACCOUNT, s)], lambda: [
            account.grants[grantee].add((p, obj)) for p in privileges for obj in existing
        ]

    kinds = "|".join(KINDS)
    if m := re.match(rf"^GRANT (.+?) ON ({kinds}) (\S+) TO ROLE (\S+)$", s):
        privileges = [p.strip() for p in m[1].split(",")]
        obj = (kind_of(m[2]), m[3])
        grantee = m[4]
        owner_ok = account.allows(role, Need("OWNERSHIP", obj, s))
        needs = [] if owner_ok else [Need("MANAGE GRANTS", ACCOUNT, s)]
        return needs, lambda: [account.grants[grantee].add((p, obj)) for p in privileges]

    if m := re.match(r"^CREATE WAREHOUSE (?:IF NOT EXISTS )?(\S+)", s):
        obj = ("WAREHOUSE", m[1])
        return [Need("CREATE WAREHOUSE", ACCOUNT, s)], lambda: account.create(role, obj)

    if m := re.match(r"^CREATE DATABASE (?:IF NOT EXISTS )?(\S+)", s):
        obj = ("DATABASE", m[1])
        return [Need("CREATE DATABASE", ACCOUNT, s)], lambda: account.create(role, obj)

    if m := re.match(r"^CREATE SCHEMA (?:IF NOT EXISTS )?(\S+)", s):
        obj = ("SCHEMA", m[1])
        database = m[1].split(".")[0]
        return [
            Need("USAGE", ("DATABASE", database), s),
            Need("CREATE SCHEMA", ("DATABASE", database), s),
        ], lambda: account.create(role, obj)

    if m := re.match(r"^CREATE (?:STORAGE|NOTIFICATION) INTEGRATION (?:IF NOT EXISTS )?(\S+)", s):
        obj = ("INTEGRATION", m[1])
        return [Need("CREATE INTEGRATION", ACCOUNT, s)], lambda: account.create(role, obj)

    if m := re.match(r"^CREATE FILE FORMAT (?:IF NOT EXISTS )?(\S+)", s):
        obj = ("FILE FORMAT", m[1])
        return schema_needs(m[1], "CREATE FILE FORMAT", s), lambda: account.create(role, obj)

    if m := re.match(r"^ALTER FILE FORMAT (?:IF EXISTS )?(\S+)", s):
        return [Need("OWNERSHIP", ("FILE FORMAT", m[1]), s)], lambda: None

    if m := re.match(r"^CREATE (?:OR REPLACE )?(?:TEMPORARY )?STAGE (?:IF NOT EXISTS )?(\S+)", s):
        obj = ("STAGE", m[1])
        needs = schema_needs(m[1], "CREATE STAGE", s)
        if i := re.search(r"STORAGE_INTEGRATION = (\S+)", s):
            needs.append(Need("USAGE", ("INTEGRATION", i[1]), s))
        if f := re.search(r"FILE_FORMAT = (\S+)", s):
            needs.append(Need("USAGE", ("FILE FORMAT", f[1]), s))
        return needs, lambda: account.create(role, obj)

    if m := re.match(r"^CREATE TABLE (?:IF NOT EXISTS )?(\S+)", s):
        obj = ("TABLE", m[1])

        def make_table() -> None:
            account.create(role, obj)
            if "CHANGE_TRACKING = TRUE" in s:
                account.change_tracking.add(m[1])

        return schema_needs(m[1], "CREATE TABLE", s), make_table

    if m := re.match(r"^CREATE (?:OR REPLACE )?VIEW (?:IF NOT EXISTS )?(\S+) AS (.*)$", s):
        obj = ("VIEW", m[1])
        needs = schema_needs(m[1], "CREATE VIEW", s)
        for table in sorted(set(re.findall(r"(?:FROM|JOIN) (\w+\.\w+\.\w+)", m[2]))):
            needs.append(Need("SELECT", ("TABLE", table), s))
        for function in sorted(set(re.findall(rf"\b({'|'.join(USAGE_FUNCTIONS)})\(", m[2]))):
            # Creating the view needs nothing more; its owner (who reads it, in the
            # alerts and the dashboard) gets rows only with MONITOR USAGE.
            needs.append(Need("MONITOR USAGE", ACCOUNT, f"{s} ({function} answers no rows)"))
        return needs, lambda: account.create(role, obj)

    if m := re.match(
        r"^CREATE PIPE (?:IF NOT EXISTS )?(\S+) .*?COPY INTO (\S+) .*?FROM @([\w.]+)", s
    ):
        obj = ("PIPE", m[1])
        table = m[2].split("(")[0]
        needs = [
            *schema_needs(m[1], "CREATE PIPE", s),
            Need("USAGE", ("STAGE", m[3]), s),
            Need("INSERT", ("TABLE", table), s),
            Need("SELECT", ("TABLE", table), s),
        ]
        return needs, lambda: account.create(role, obj)

    if m := re.match(r"^CREATE (?:OR REPLACE )?STREAM (?:IF NOT EXISTS )?(\S+) ON TABLE (\S+)", s):
        obj, table = ("STREAM", m[1]), m[2]
        needs = [*schema_needs(m[1], "CREATE STREAM", s), Need("SELECT", ("TABLE", table), s)]
        if table not in account.change_tracking:
            # The first stream on a table enables change tracking: only its owner may.
            needs.append(Need("OWNERSHIP", ("TABLE", table), s + " (enables change tracking)"))
        return needs, lambda: account.create(role, obj)

    if m := re.match(r"^CREATE (?:OR REPLACE )?PROCEDURE (\S+?)\(", s):
        obj = ("PROCEDURE", m[1])
        needs = schema_needs(m[1], "CREATE PROCEDURE", s)
        for stage in re.findall(r"'@([\w.]+)/", s):
            needs.append(Need("USAGE", ("STAGE", stage), s))
        return needs, lambda: account.create(role, obj)

    if m := re.match(r"^CREATE (?:OR REPLACE )?TASK (?:IF NOT EXISTS )?(\S+) (.*)$", s):
        obj, body = ("TASK", m[1]), m[2]
        needs = schema_needs(m[1], "CREATE TASK", s)
        if w := re.search(r"\bWAREHOUSE = (\S+)", body):
            needs.append(Need("USAGE", ("WAREHOUSE", w[1]), s))
        else:
            needs.append(Need("EXECUTE MANAGED TASK", ACCOUNT, s + " (serverless)"))
        if e := re.search(r"\bERROR_INTEGRATION = (\S+)", body):
            needs.append(Need("USAGE", ("INTEGRATION", e[1]), s))
        for parent in re.findall(r"\bAFTER ([\w.]+(?:, [\w.]+)*)", body):
            for p in parent.split(", "):
                needs.append(Need("OWNERSHIP", ("TASK", p), s + " (a predecessor)"))

        def make_task() -> None:
            account.create(role, obj)
            if w:
                account.task_warehouses[m[1]] = w[1]
            else:
                account.task_warehouses.pop(m[1], None)

        return needs, make_task

    if m := re.match(r"^ALTER TASK (?:IF EXISTS )?(\S+) (SUSPEND|RESUME)$", s):
        needs = [Need("OWNERSHIP", ("TASK", m[1]), s)]
        if m[2] == "RESUME":
            needs.append(Need("EXECUTE TASK", ACCOUNT, s))
        exists = ("TASK", m[1]) in account.owners
        return (needs if exists or "IF EXISTS" not in s else []), lambda: None

    if m := re.match(r"^EXECUTE TASK (\S+)$", s):
        task = ("TASK", m[1])
        needs = [
            Need("USAGE", ("DATABASE", m[1].split(".")[0]), s),
            Need("USAGE", ("SCHEMA", in_schema(m[1])), s),
            Need("OPERATE", task, s),
        ]
        owner = account.owners.get(task)
        if owner is None:
            needs.append(Need("an existing task", task, s))
        else:
            # Checked on the owner's role, whoever runs the statement: the run is the owner's.
            warehouse = account.task_warehouses.get(m[1])
            owner_needs = [Need("EXECUTE TASK", ACCOUNT, s + " (the task's owner)")]
            if warehouse:
                owner_needs.append(Need("USAGE", ("WAREHOUSE", warehouse), s + " (the owner)"))
            else:
                # A serverless task's run bills the owner's serverless compute.
                owner_needs.append(
                    Need("EXECUTE MANAGED TASK", ACCOUNT, s + " (the serverless task's owner)")
                )
            needs += [
                Need(f"{n.privilege} held by {owner}", n.obj, n.why)
                for n in owner_needs
                if not account.allows(owner, n)
            ]
        return needs, lambda: None

    if m := re.match(r"^SELECT SYSTEM\$TASK_DEPENDENTS_ENABLE\('([\w.]+)'\)$", s):
        return [
            Need("OWNERSHIP", ("TASK", m[1]), s),
            Need("EXECUTE TASK", ACCOUNT, s),
        ], lambda: None

    if m := re.match(r"^CREATE (?:OR REPLACE )?DBT PROJECT (?:IF NOT EXISTS )?(\S+)", s):
        obj = ("DBT PROJECT", m[1])
        return schema_needs(m[1], "CREATE DBT PROJECT", s), lambda: account.create(role, obj)

    if m := re.match(r"^CREATE (?:OR REPLACE )?STREAMLIT (?:IF NOT EXISTS )?(\S+)", s):
        obj = ("STREAMLIT", m[1])
        needs = schema_needs(m[1], "CREATE STREAMLIT", s)
        if w := re.search(r"\bQUERY_WAREHOUSE = (\S+)", s):
            needs.append(Need("USAGE", ("WAREHOUSE", w[1]), s))
        return needs, lambda: account.create(role, obj)

    if m := re.match(r"^CREATE (?:OR REPLACE )?ALERT (?:IF NOT EXISTS )?(\S+) (.*)$", s):
        obj, body = ("ALERT", m[1]), m[2].split(" IF (EXISTS", 1)[0]
        needs = [*schema_needs(m[1], "CREATE ALERT", s), Need("EXECUTE ALERT", ACCOUNT, s)]
        if w := re.search(r"\bWAREHOUSE = (\S+)", body):
            needs.append(Need("USAGE", ("WAREHOUSE", w[1]), s))
        else:
            needs.append(Need("EXECUTE MANAGED ALERT", ACCOUNT, s + " (serverless)"))
        if "SNOWFLAKE.ALERT.GET_CONDITION_QUERY_UUID" in s:
            # Checked when the action runs, as the alert's owner: the role creating it.
            viewer = ("DATABASE ROLE", "SNOWFLAKE.ALERT_VIEWER")
            needs.append(Need("ALERT_VIEWER", viewer, s + " (the action's condition rows)"))
        return needs, lambda: account.create(role, obj)

    if m := re.match(r"^ALTER ALERT (IF EXISTS )?(\S+) (SUSPEND|RESUME)$", s):
        alert = ("ALERT", m[2])
        if alert not in account.owners:
            return ([] if m[1] else [Need("an existing alert", alert, s)]), lambda: None
        needs = [Need("OWNERSHIP", alert, s)]
        if m[3] == "RESUME":
            # Checked on the owner's role: the alert runs as its owner, serverless here.
            owner = account.owners[alert]
            needs += [
                Need(f"{p} held by {owner}", ACCOUNT, s)
                for p in ("EXECUTE ALERT", "EXECUTE MANAGED ALERT")
                if not account.allows(owner, Need(p, ACCOUNT, s))
            ]
        return needs, lambda: None

    raise UnknownStatement(f"no access rule for: {s[:120]}")


def apply(account: Account, role: str, statement: str) -> list[str]:
    """Run one statement as `role`: the privileges it lacks (and, if none, its effect)."""
    needs, effect = statement_needs(account, role, statement)
    missing = [str(n) for n in needs if not account.allows(role, n)]
    if not missing:
        effect()
    return missing
