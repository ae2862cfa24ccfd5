# Sourced by .ci/run: Debian's PostgreSQL on 127.0.0.1 for the store and web suites.
# Installs the package when missing, starts the newest cluster, sets a password for
# the postgres role and exports EAP_TEST_POSTGRES_URL (tests/conftest.py reads it;
# with CI set and no URL, the PostgreSQL tests fail instead of skipping).
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
pg_version=$(ls /usr/lib/postgresql | sort -V | tail -1)
if ! pg_lsclusters -h | grep -q "^${pg_version} main"; then
    pg_createcluster "${pg_version}" main >/dev/null
fi
pg_ctlcluster "${pg_version}" main start 2>/dev/null || true
pg_port=$(pg_lsclusters -h | awk -v v="${pg_version}" '$1 == v && $2 == "main" {print $3}')
for _ in $(seq 1 30); do
    su postgres -c "pg_isready -q -h 127.0.0.1 -p ${pg_port}" && break
    sleep 1
done
su postgres -c "psql -q -p ${pg_port} -c \"ALTER USER postgres PASSWORD 'eap-ci'\""
export EAP_TEST_POSTGRES_URL="postgresql://postgres:eap-ci@127.0.0.1:${pg_port}/postgres"
