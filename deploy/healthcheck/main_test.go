package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := run([]string{srv.URL + "/healthz"}, io.Discard); err != nil {
		t.Errorf("healthy: %v", err)
	}
	if err := run([]string{srv.URL + "/readyz"}, io.Discard); err == nil {
		t.Error("503 reported healthy")
	}
	if err := run(nil, io.Discard); err == nil {
		t.Error("no URL accepted")
	}
	srv.Close()
	if err := run([]string{srv.URL + "/healthz"}, io.Discard); err == nil {
		t.Error("closed server reported healthy")
	}
}
