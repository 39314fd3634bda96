package ingest_test

import (
	"testing"

	"booklets/pkg/testkit/batcherday"
)

// env is one test's stored day: the database the consumer stores into,
// with the end-of-day sender and SFTP server that send what it stored
// (pkg/testkit/batcherday, which the end-of-day tests share).
type env = batcherday.Env

func newEnv(t *testing.T) *env { return batcherday.New(t) }

// The fixture's orders and times, by the short names the tests use.
var date, at, newOrder, person = batcherday.Date, batcherday.At, batcherday.NewOrder, batcherday.Person
