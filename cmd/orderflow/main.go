// Command orderflow places orders from Kafka order-request events at checkout providers.
//
//	orderflow run                 everything in one process on the embedded stack, with demo orders
//	orderflow run --brokers ...   the roles against real Kafka, Redis and a schema registry
//	orderflow sandbox             the provider sandbox (Rye and Digital River) standalone
//	orderflow send                publish one order request
//	orderflow dlq list|show|replay  inspect and replay dead letters
//	orderflow probe [URL]         a container health check: GET /readyz, exit 0 when ready
//	orderflow --version           the build's version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alexflint/go-arg"

	"github.com/orderflow/orderflow/internal/kafkasec"
	"github.com/orderflow/orderflow/service"
)

type args struct {
	Run       *runCmd     `arg:"subcommand:run" help:"run the roles (and, with no external services, the embedded stack and demo orders)"`
	Sandbox   *sandboxCmd `arg:"subcommand:sandbox" help:"serve the Rye and Digital River sandbox"`
	Send      *sendCmd    `arg:"subcommand:send" help:"publish one order request"`
	Dlq       *dlqCmd     `arg:"subcommand:dlq" help:"list, show and replay dead letters"`
	Probe     *probeCmd   `arg:"subcommand:probe" help:"GET a health URL (default /readyz on --metrics-addr); exit 0 on 2xx, else 1"`
	LogLevel  string      `arg:"--log-level,env:ORDERFLOW_LOG_LEVEL" default:"warn" help:"debug, info, warn or error"`
	LogFormat string      `arg:"--log-format,env:ORDERFLOW_LOG_FORMAT" default:"text" help:"text or json (one JSON object per line: time, level, msg, attributes)"`
}

func (args) Description() string {
	return "orderflow turns order-request events on Kafka into placed orders, never charging twice.\n"
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := orderflow(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// orderflow runs the command line argv (without the program name) and returns its exit code:
// 0 success, 1 failure, 2 usage or configuration (see exitCode). Help goes to stdout, usage
// errors to stderr.
func orderflow(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	var a args
	p, err := arg.NewParser(arg.Config{Program: "orderflow"}, &a)
	if err != nil {
		fmt.Fprintln(stderr, "orderflow:", err)
		return 1
	}
	switch err := p.Parse(argv); {
	case errors.Is(err, arg.ErrHelp):
		p.WriteHelpForSubcommand(stdout, p.SubcommandNames()...)
		return 0
	case errors.Is(err, arg.ErrVersion):
		fmt.Fprintln(stdout, a.Version())
		return 0
	case err != nil:
		// go-arg's own MustParse exits 255 here; a usage error is 2 in every command.
		p.WriteUsageForSubcommand(stderr, p.SubcommandNames()...)
		fmt.Fprintln(stderr, "error:", err)
		return 2
	case p.Subcommand() == nil:
		p.WriteHelp(stderr)
		return 2
	}
	log, err := newLogger(stderr, a.LogFormat, a.LogLevel)
	if err != nil {
		return report(stderr, err)
	}
	slog.SetDefault(log) // what libraries log through slog.Default follows --log-format too

	switch {
	case a.Run != nil:
		err = a.Run.run(ctx, log)
	case a.Sandbox != nil:
		err = a.Sandbox.run(ctx, log)
	case a.Send != nil:
		err = a.Send.run(ctx)
	case a.Dlq != nil:
		err = a.Dlq.run(ctx, log)
	case a.Probe != nil:
		err = a.Probe.run(ctx, stdout)
	}
	return report(stderr, err)
}

// errMismatch reports demo orders that ended other than their scenario says.
var errMismatch = errors.New("some orders ended with an unexpected outcome")

// exitCode maps a command's error to the exit code, the same for every command: 0 done or
// interrupted, 2 usage or a configuration that can never work (a bad flag, an order file with an
// unknown field, credentials or a certificate a dependency refused; go-arg's usage errors are 2 too, see
// orderflow), 3 demo orders ended unexpectedly, 1 anything else (a dependency unreachable past
// --start-timeout, a role failing, a replay that refused or failed a dead letter).
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return 0
	case errors.Is(err, errMismatch):
		return 3
	case errors.As(err, new(configError)), errors.As(err, new(*service.ConfigError)), kafkasec.Refused(err):
		return 2
	}
	return 1
}

// report writes err to w as exitCode classifies it and returns the exit code.
func report(w io.Writer, err error) int {
	code := exitCode(err)
	switch code {
	case 0:
	case 2:
		fmt.Fprintln(w, "orderflow: invalid configuration:", err)
	default:
		fmt.Fprintln(w, "orderflow:", err)
	}
	return code
}
