-- Runs once, when the compose volume is first initialised (docker-entrypoint-initdb.d).
-- The migrations create timescaledb themselves; pg_stat_statements feeds the
-- "slowest statements" panel of the Database dashboard.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
