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
# The key-encryption key ring (pkg/domain/seal format: id:base64key, current first).
new kek && printf 'k%s:%s\n' "$(date +%Y%m%d)" "$(openssl rand -base64 32)" > kek
new intake_secret && openssl rand -hex 32 > intake_secret
new audit_token && openssl rand -hex 24 > audit_token
if new postgres_password; then
	openssl rand -hex 24 > postgres_password
	# pgx reads the password from PGPASSFILE, so no password sits in
	# DATABASE_URL or in any environment variable. This one is the owner's
	# (a superuser): only the one-shot migrate service is given it.
	printf 'postgres:5432:booklets:booklets:%s\n' "$(cat postgres_password)" > pgpass
fi
# booklets_app, the login role the three services connect as (a member of
# booklets_service: no UPDATE or DELETE on the audit log). The postgres
# container's init script (deploy/postgres-init/) creates it with this
# password; the services read it from pgpass_app.
if new booklets_app_password; then
	openssl rand -hex 24 > booklets_app_password
	printf 'postgres:5432:booklets:booklets_app:%s\n' "$(cat booklets_app_password)" > pgpass_app
fi
# The print partner's OpenPGP key pair, so that batch files are encrypted
# to the partner (PARTNER_PGP_KEY_FILE). The batcher is given only the
# public key. The private key, partner_pgp_PRIVATE_key_for_the_partner.asc,
# is what the partner keeps to decrypt the files: in a real deployment the
# partner makes the pair and sends only the public key; here it stands in
# for the partner's copy and is mounted into no container.
if new partner_pgp_public_key; then
	gnupghome=$(mktemp -d)
	trap 'rm -rf "$gnupghome"' EXIT
	GNUPGHOME=$gnupghome gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
		--quick-generate-key 'Print partner (booklets test) <partner@example.invalid>' default default 2y
	GNUPGHOME=$gnupghome gpg --batch --armor --export > partner_pgp_public_key
	GNUPGHOME=$gnupghome gpg --batch --armor --pinentry-mode loopback --passphrase '' \
		--export-secret-keys > partner_pgp_PRIVATE_key_for_the_partner.asc
	rm -rf "$gnupghome"
	trap - EXIT
fi

# The reconciler's Ed25519 key for signing checkpoints of the audit log
# (AUDIT_SIGNING_KEY_FILE), in golang.org/x/mod/sumdb/note's format, made
# by the reconciler itself; audit_signing_key.pub is what auditors are
# given for auditverify --key. Needs Go (as building the project does).
if new audit_signing_key; then
	(cd ../.. && go run ./services/reconciler audit keygen deploy/secrets/audit_signing_key) > audit_signing_key.pub
fi

# Docker Compose (without Swarm) bind-mounts secret files with their host
# permissions; the services run as uid 65532 and must be able to read them.
# The partner's host key stays root-only: sshd refuses a readable key.
chmod 0644 sftp_key sftp_key_pub sftp_known_hosts kek intake_secret audit_token pgpass postgres_password partner_host_key_pub \
	booklets_app_password pgpass_app partner_pgp_public_key audit_signing_key audit_signing_key.pub
chmod 0600 partner_host_key
if [ -e partner_pgp_PRIVATE_key_for_the_partner.asc ]; then
	chmod 0600 partner_pgp_PRIVATE_key_for_the_partner.asc
fi
# Other users of the host cannot reach the files through the folder; the
# Docker daemon (root) mounts them regardless.
chmod 0700 .
echo "secrets in $(pwd)"
