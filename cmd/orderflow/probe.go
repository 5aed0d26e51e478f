package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// probeCmd is a container health check that needs no shell, curl or wget (the image is
// distroless): it GETs a URL and succeeds on a 2xx answer.
type probeCmd struct {
	URL         string        `arg:"positional" help:"URL to GET (default: /readyz on --metrics-addr)"`
	MetricsAddr string        `arg:"--metrics-addr,env:ORDERFLOW_METRICS_ADDR" help:"the metrics server's address, as given to orderflow run, when no URL is given"`
	Timeout     time.Duration `arg:"--timeout" default:"3s" help:"give up after this long"`
}

// run GETs the URL: nil on a 2xx answer, else an error naming the status (exit code 1).
func (c *probeCmd) run(ctx context.Context, stdout io.Writer) error {
	url, err := c.url()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return configError{fmt.Errorf("probe: %w", err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probing %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("probing %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "%s: %s\n", resp.Status, strings.TrimSpace(string(body)))
	return nil
}

// url is the URL to probe: the given one, else http://<metrics addr>/readyz, with an
// unspecified host (0.0.0.0:9100, :9100) probed on the loopback.
func (c *probeCmd) url() (string, error) {
	if c.URL != "" {
		return c.URL, nil
	}
	if c.MetricsAddr == "" {
		return "", configError{errors.New("probe: no URL and no --metrics-addr (or ORDERFLOW_METRICS_ADDR)")}
	}
	host, port, err := net.SplitHostPort(c.MetricsAddr)
	if err != nil {
		return "", configError{fmt.Errorf("probe: --metrics-addr %q: %w", c.MetricsAddr, err)}
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}
