package main

import (
	"context"
	"errors"
)

// auditPath is where the reconciler serves the auditors' page.
const auditPath = "/audit"

// partner is the running partner simulator.
type partner struct {
	addr string
	root string
}

func startPartner(ctx context.Context, cfg config, out *console) (*partner, error) {
	return nil, errors.New("the partner simulator (pkg/partnersim) is not in this checkout yet")
}

func (p *partner) env() map[string]string { return nil }

func (p *partner) close() {}
