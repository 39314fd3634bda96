package postgres

import (
	"testing"

	"booklets/pkg/testkit/redaction"
)

func TestContactIsRedacted(t *testing.T) {
	const marker = "MARKER-Zq7"
	redaction.NoLeak(t, contact{Name: "Ann " + marker, Email: marker + "@example.org"}, marker)
}
