"""The dashboard's views and the helpers they share."""
