// Package natsembed runs a NATS server with JetStream inside the current
// process (github.com/nats-io/nats-server/v2 used as a library). `make run`
// starts one when no NATS server answers, so that a new user needs nothing
// but PostgreSQL to see the pipeline work. Production runs a real NATS
// cluster (see deploy/README.md).
package natsembed

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultPort is the NATS client port the server takes when it is free.
const DefaultPort = 4222

// Config says where the server keeps its data and where it listens.
type Config struct {
	// Dir holds the JetStream files; orders survive a restart there.
	Dir string
	// Host to listen on; default 127.0.0.1 so that nothing outside the
	// machine can reach a server with no authentication.
	Host string
	// Port to listen on: 0 means DefaultPort when it is free and any free
	// port otherwise; -1 means any free port.
	Port int
	// Name of the server, shown in its monitoring data; default "booklets".
	Name string
	// ReadyTimeout bounds the wait for the server to accept clients;
	// default 10s.
	ReadyTimeout time.Duration
	// LogFile, when set, receives the server's log: JetStream tells its
	// clients only a fixed sentence when it refuses a stream's store, and
	// writes the cause there. Default: no log.
	LogFile string
}

// Server is a running embedded NATS server.
type Server struct {
	ns *server.Server
}

// Start starts the server and returns once it accepts client connections.
func Start(cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("start embedded NATS: a data folder is required")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Name == "" {
		cfg.Name = "booklets"
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT
		if portFree(cfg.Host, DefaultPort) {
			port = DefaultPort
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("start embedded NATS: data folder: %w", err)
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       cfg.Host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.Dir,
		// The host process owns signal handling (Ctrl-C stops the whole
		// pipeline in order); the server must not exit on its own.
		NoSigs: true,
		NoLog:  true,
		// No HTTP monitoring port: it would be one more port to clash.
		HTTPPort: 0,
	}
	if cfg.LogFile != "" {
		opts.NoLog, opts.LogFile = false, cfg.LogFile
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start embedded NATS on %s:%d: %w", cfg.Host, port, err)
	}
	if cfg.LogFile != "" {
		ns.ConfigureLogger()
	}
	go ns.Start()
	if !ns.ReadyForConnections(cfg.ReadyTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("start embedded NATS on %s:%d: not ready after %s", cfg.Host, port, cfg.ReadyTimeout)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return nil, fmt.Errorf("start embedded NATS on %s:%d: JetStream did not start (data folder %s)", cfg.Host, port, cfg.Dir)
	}
	return &Server{ns: ns}, nil
}

// URL is the client URL, e.g. nats://127.0.0.1:4222.
func (s *Server) URL() string { return s.ns.ClientURL() }

// Port is the client port the server listens on.
func (s *Server) Port() int {
	if a, ok := s.ns.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Shutdown stops the server and waits until it has stopped; JetStream
// flushes its files first. It is safe to call more than once.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// portFree says whether a listener can be opened on host:port right now.
func portFree(host string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
