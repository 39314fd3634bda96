package main

import (
	"maps"
	"path/filepath"

	"booklets/pkg/adapter/jetstream"
	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/testkit/sftptest"
	"booklets/pkg/testkit/testenv"
)

// serviceEnv is the environment of a batcher running as a service in a
// test: its database, the test's stream on the local NATS, the test's sshd
// with the partner folder "outbox", no upload retries, a free HTTP port,
// plain CSV (PARTNER_PLAINTEXT) unless extra gives PARTNER_PGP_KEY_FILE,
// no end-of-day retry job.
// extra adds or overrides settings (KEK, MIGRATE, ...).
func serviceEnv(dbURL string, orders *jetstream.Orders, srv *sftptest.Server, extra map[string]string) map[string]string {
	env := map[string]string{
		"DATABASE_URL": dbURL, "NATS_URL": testenv.NATSURL(),
		"NATS_STREAM": orders.Config().Stream, "NATS_SUBJECT": orders.Config().Subject,
		"SFTP_ADDR": srv.Addr, "SFTP_USER": srv.User, "SFTP_KEY_FILE": srv.KeyFile,
		"SFTP_KNOWN_HOSTS": srv.KnownHosts, "SFTP_DIR": "outbox", "SFTP_RETRIES": "0",
		"HTTP_ADDR": "127.0.0.1:0",
		// Tests stage orders of past days and send them with send-now;
		// the retry job would send them first (retry_test.go turns it on).
		"SEND_RETRY_INTERVAL": "0",
		// The kept copies for a resend go beside the partner's folder, in
		// the test's own temporary folder, not the working directory.
		EnvRetainedDir: filepath.Join(filepath.Dir(srv.Root), "retained"),
	}
	if _, ok := extra[openpgp.EnvKeyFile]; !ok {
		env[EnvPlaintext] = "true"
	}
	maps.Copy(env, extra)
	return env
}
