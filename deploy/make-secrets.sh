#!/bin/sh
# Generates the secret files docker-compose.yml mounts, in deploy/secrets/,
# for a local or test deployment. Production takes them from its secret
# store instead (see deploy/README.md). Existing files are kept, so running
# it twice changes nothing; delete a file to rotate it.
set -eu
cd "$(dirname "$0")/secrets"
umask 077

new() { [ ! -e "$1" ]; }

# The batcher and reconciler's SSH key for the partner's SFTP server, and the
# partner's authorised copy of its public half.
if new sftp_key; then
	ssh-keygen -q -t ed25519 -N '' -C booklets -f sftp_key
	mv sftp_key.pub sftp_key_pub
fi
# The partner server's host key, and the known_hosts line that pins it
# (the services refuse an unknown or changed host key).
if new partner_host_key; then
	ssh-keygen -q -t ed25519 -N '' -C partner-sftp -f partner_host_key
	mv partner_host_key.pub partner_host_key_pub
fi
if new sftp_known_hosts; then
	printf 'partner-sftp %s\n' "$(cut -d' ' -f1,2 partner_host_key_pub)" > sftp_known_hosts
fi
# The key-encryption key ring (pkg/seal format: id:base64key, current first).
new kek && printf 'k%s:%s\n' "$(date +%Y%m%d)" "$(openssl rand -base64 32)" > kek
new intake_secret && openssl rand -hex 32 > intake_secret
new audit_token && openssl rand -hex 24 > audit_token
if new postgres_password; then
	openssl rand -hex 24 > postgres_password
	# pgx reads the password from PGPASSFILE, so no password sits in
	# DATABASE_URL or in any environment variable.
	printf 'postgres:5432:booklets:booklets:%s\n' "$(cat postgres_password)" > pgpass
fi

# Docker Compose (without Swarm) bind-mounts secret files with their host
# permissions; the services run as uid 65532 and must be able to read them.
# The partner's host key stays root-only: sshd refuses a readable key.
chmod 0644 sftp_key sftp_key_pub sftp_known_hosts kek intake_secret audit_token pgpass postgres_password partner_host_key_pub
chmod 0600 partner_host_key
# Other users of the host cannot reach the files through the folder; the
# Docker daemon (root) mounts them regardless.
chmod 0700 .
echo "secrets in $(pwd)"
