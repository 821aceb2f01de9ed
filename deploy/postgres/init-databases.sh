#!/bin/sh
# Runs once, when the PostgreSQL volume is empty (docker-entrypoint-initdb.d): one database and
# one owner role per service, so each service can only touch its own data. Passwords come from
# the environment (ORDERS_DB_PASSWORD, INVENTORY_DB_PASSWORD).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set=orders_pw="$ORDERS_DB_PASSWORD" --set=inventory_pw="$INVENTORY_DB_PASSWORD" <<'SQL'
CREATE ROLE orders LOGIN PASSWORD :'orders_pw';
CREATE DATABASE orders OWNER orders;
CREATE ROLE inventory LOGIN PASSWORD :'inventory_pw';
CREATE DATABASE inventory OWNER inventory;
SQL
