package testenv

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/internal/kafkasec"
	"github.com/orderflow/orderflow/internal/tlsfiles"
)

// The Kafka variables (scripts/services/env.sh prints them for the SASL_SSL listener).
const (
	EnvBrokers       = "ORDERFLOW_TEST_BROKERS"              // comma-separated host:port
	EnvKafkaTLS      = "ORDERFLOW_TEST_KAFKA_TLS"            // true: TLS to the brokers
	EnvCAFile        = "ORDERFLOW_TEST_CA_FILE"              // the CA of every secured test service
	EnvSASLMechanism = "ORDERFLOW_TEST_KAFKA_SASL_MECHANISM" // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	EnvSASLUser      = "ORDERFLOW_TEST_KAFKA_SASL_USER"
	EnvSASLPassword  = "ORDERFLOW_TEST_KAFKA_SASL_PASSWORD"
)

// Brokers is ORDERFLOW_TEST_BROKERS as a list; nil when unset (the suites then start kfake).
func Brokers() []string {
	b := os.Getenv(EnvBrokers)
	if b == "" {
		return nil
	}
	return strings.Split(b, ",")
}

// Kafka is the security of the test brokers: TLS (trusting ORDERFLOW_TEST_CA_FILE) when
// ORDERFLOW_TEST_KAFKA_TLS is true, SASL when ORDERFLOW_TEST_KAFKA_SASL_MECHANISM is set. It is
// the zero Config when ORDERFLOW_TEST_BROKERS is unset, so a kfake cluster is dialled plainly.
func Kafka() kafkasec.Config {
	if Brokers() == nil {
		return kafkasec.Config{}
	}
	tlsOn, _ := strconv.ParseBool(os.Getenv(EnvKafkaTLS))
	cfg := kafkasec.Config{
		Mechanism: os.Getenv(EnvSASLMechanism), User: os.Getenv(EnvSASLUser), Password: os.Getenv(EnvSASLPassword),
	}
	if tlsOn {
		cfg.TLS = tlsfiles.Config{Enabled: true, CAFile: os.Getenv(EnvCAFile)}
	}
	return cfg
}

// KafkaSecurity is Kafka's options (TLS, SASL) for every client a test builds, whatever
// brokers it dials: nil without ORDERFLOW_TEST_BROKERS. A bad setting fails the test.
func KafkaSecurity(t testing.TB) []kgo.Opt {
	t.Helper()
	opts, err := Kafka().Opts()
	if err != nil {
		t.Fatalf("the ORDERFLOW_TEST_KAFKA_* settings: %v", err)
	}
	return opts
}

// KafkaOpts are the options of a client of the test brokers: their seeds, then KafkaSecurity;
// nil without ORDERFLOW_TEST_BROKERS.
func KafkaOpts(t testing.TB) []kgo.Opt {
	t.Helper()
	b := Brokers()
	if b == nil {
		return nil
	}
	return append([]kgo.Opt{kgo.SeedBrokers(b...)}, KafkaSecurity(t)...)
}
