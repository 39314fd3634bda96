package endofday

import (
	"context"
	"encoding/json"
	"io"

	"booklets/pkg/domain/batchfile"
	"booklets/pkg/domain/businessday"
	"booklets/pkg/domain/order"
	"booklets/pkg/domain/reference"
)

// The tests that run the sender against the real adapters are external
// (package endofday_test): the adapters import this package. These give
// them the steps they measure or compare.

// Upload is one upload attempt (upload).
func (s *Sender) Upload(ctx context.Context, b Batch) (batchfile.Manifest, error) {
	return s.upload(ctx, b)
}

// Write writes the batch's file (write).
func (s *Sender) Write(ctx context.Context, b Batch, w io.Writer, checksum bool) (batchfile.Summary, error) {
	return s.write(ctx, b, w, checksum)
}

// BenchCodec is benchCodec, for the benchmarks.
type BenchCodec = benchCodec

// benchCodec reads the JSON personal parts the benchmark writes with SQL
// (sealing 100,000 orders in Go would dominate the set-up); opening a
// sealed value costs about 1 µs (pkg/domain/seal's benchmarks).
type benchCodec struct{}

func (benchCodec) Decode(_ context.Context, _ string, _ reference.Reference, _ businessday.Date, data []byte) (order.Personal, error) {
	var p order.Personal
	err := json.Unmarshal(data, &p)
	return p, err
}

// ChunkSize is chunkSize: how many orders are opened together.
const ChunkSize = chunkSize

// KeyFileSetting is keyFileSetting.
const KeyFileSetting = keyFileSetting
