package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/ferry-sync/ferry/service/render"
)

// Sizes for Setup's files.
const (
	MaxSize = 10 << 20 // bytes per file before rotation
	Keep    = 5        // rotated files kept: ferry.log.1 .. ferry.log.5
)

// ParseLevel reads --log-level: debug, info, warn (or warning) or error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q: use debug, info, warn or error", s)
}

// Setup opens STATE_DIR/logs/ferry.log (JSON, records at level and above)
// and STATE_DIR/logs/transfers.log, both rotated at MaxSize keeping Keep old
// files. The closer closes both.
func Setup(stateDir string, level slog.Level) (*slog.Logger, *TransferLog, io.Closer, error) {
	dir := filepath.Join(stateDir, "logs")
	app, err := OpenRotator(filepath.Join(dir, "ferry.log"), MaxSize, Keep)
	if err != nil {
		return nil, nil, nil, err
	}
	xfer, err := OpenRotator(filepath.Join(dir, "transfers.log"), MaxSize, Keep)
	if err != nil {
		app.Close()
		return nil, nil, nil, err
	}
	// Names in the log may hold bidi controls or zero-width characters:
	// they are written as \u escapes, so the file reads true on a terminal.
	log := slog.New(slog.NewJSONHandler(render.JSONWriter{W: app}, &slog.HandlerOptions{Level: level}))
	return log, NewTransferLog(xfer, nil), closers{app, xfer}, nil
}

type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
