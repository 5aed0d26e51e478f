// Command orderflow places orders from Kafka order-request events at checkout providers.
//
//	orderflow run                 everything in one process on the embedded stack, with demo orders
//	orderflow run --brokers ...   the roles against real Kafka, Redis and a schema registry
//	orderflow sandbox             the provider sandbox (Rye and Digital River) standalone
//	orderflow send                publish one order request
//	orderflow dlq list|show|replay  inspect and replay dead letters
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alexflint/go-arg"

	"github.com/orderflow/orderflow/service"
)

type args struct {
	Run       *runCmd     `arg:"subcommand:run" help:"run the roles (and, with no external services, the embedded stack and demo orders)"`
	Sandbox   *sandboxCmd `arg:"subcommand:sandbox" help:"serve the Rye and Digital River sandbox"`
	Send      *sendCmd    `arg:"subcommand:send" help:"publish one order request"`
	Dlq       *dlqCmd     `arg:"subcommand:dlq" help:"list, show and replay dead letters"`
	LogLevel  string      `arg:"--log-level,env:ORDERFLOW_LOG_LEVEL" default:"warn" help:"debug, info, warn or error"`
	LogFormat string      `arg:"--log-format,env:ORDERFLOW_LOG_FORMAT" default:"text" help:"text or json (one JSON object per line: time, level, msg, attributes)"`
}

func (args) Description() string {
	return "orderflow turns order-request events on Kafka into placed orders, never charging twice.\n"
}

func main() {
	var a args
	p := arg.MustParse(&a)
	if p.Subcommand() == nil {
		p.WriteHelp(os.Stderr)
		os.Exit(2)
	}
	log, err := newLogger(os.Stderr, a.LogFormat, a.LogLevel)
	if err != nil {
		os.Exit(exitCode(err))
	}
	slog.SetDefault(log) // what libraries log through slog.Default follows --log-format too

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case a.Run != nil:
		err = a.Run.run(ctx, log)
	case a.Sandbox != nil:
		err = a.Sandbox.run(ctx, log)
	case a.Send != nil:
		err = a.Send.run(ctx)
	case a.Dlq != nil:
		err = a.Dlq.run(ctx, log)
	}
	os.Exit(exitCode(err))
}

// errMismatch reports demo orders that ended other than their scenario says.
var errMismatch = errors.New("some orders ended with an unexpected outcome")

// exitCode maps run's error to the exit code: 0 done or interrupted, 2 a configuration that can
// never work (a bad flag, or credentials a dependency refused; go-arg's usage errors are 2 too),
// 3 demo orders ended unexpectedly, 1 anything else (a dependency unreachable past
// --start-timeout, a role failing).
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return 0
	case errors.Is(err, errMismatch):
		fmt.Fprintln(os.Stderr, "orderflow:", err)
		return 3
	case errors.As(err, new(configError)), errors.As(err, new(*service.ConfigError)):
		fmt.Fprintln(os.Stderr, "orderflow: invalid configuration:", err)
		return 2
	}
	fmt.Fprintln(os.Stderr, "orderflow:", err)
	return 1
}
