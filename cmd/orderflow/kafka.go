package main

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/internal/kafkasec"
	"github.com/orderflow/orderflow/internal/tlsfiles"
)

// kafkaFlags are the security flags of every command that talks to Kafka (run, send, dlq), so
// each one connects to a managed Kafka the same way. Embed it, add secret to the command's
// resolveSecrets and validate's list to its validate, and start the command with prologue.
type kafkaFlags struct {
	KafkaTLS              bool   `arg:"--kafka-tls,env:ORDERFLOW_KAFKA_TLS" help:"TLS to the brokers (trusting --kafka-ca-file, else the system's roots)"`
	KafkaCAFile           string `arg:"--kafka-ca-file,env:ORDERFLOW_KAFKA_CA_FILE" help:"PEM bundle of the CAs that sign the brokers' certificates (with --kafka-tls)"`
	KafkaCertFile         string `arg:"--kafka-cert-file,env:ORDERFLOW_KAFKA_CERT_FILE" help:"client certificate (PEM) for mutual TLS, with --kafka-key-file"`
	KafkaKeyFile          string `arg:"--kafka-key-file,env:ORDERFLOW_KAFKA_KEY_FILE" help:"client key (PEM) for mutual TLS"`
	KafkaTLSServerName    string `arg:"--kafka-tls-server-name,env:ORDERFLOW_KAFKA_TLS_SERVER_NAME" help:"name to check the brokers' certificates against (default: the host dialled)"`
	KafkaSASLMechanism    string `arg:"--kafka-sasl-mechanism,env:ORDERFLOW_KAFKA_SASL_MECHANISM" help:"PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default: no SASL)"`
	KafkaSASLUser         string `arg:"--kafka-sasl-user,env:ORDERFLOW_KAFKA_SASL_USER" help:"SASL user"`
	KafkaSASLPassword     string `arg:"--kafka-sasl-password,env:ORDERFLOW_KAFKA_SASL_PASSWORD" help:"SASL password (prefer --kafka-sasl-password-file: a flag shows in ps)"`
	KafkaSASLPasswordFile string `arg:"--kafka-sasl-password-file,env:ORDERFLOW_KAFKA_SASL_PASSWORD_FILE" help:"file holding the SASL password"`
}

// secret is the SASL password's flag, for resolveSecrets.
func (k *kafkaFlags) secret() secretFlag {
	return secretFlag{"--kafka-sasl-password", &k.KafkaSASLPassword, &k.KafkaSASLPasswordFile}
}

func (k *kafkaFlags) config() kafkasec.Config {
	return kafkasec.Config{
		TLS: tlsfiles.Config{Enabled: k.KafkaTLS, CAFile: k.KafkaCAFile, CertFile: k.KafkaCertFile, KeyFile: k.KafkaKeyFile,
			ServerName: k.KafkaTLSServerName},
		Mechanism: k.KafkaSASLMechanism, User: k.KafkaSASLUser, Password: k.KafkaSASLPassword,
	}
}

// set reports whether any Kafka security flag is given.
func (k *kafkaFlags) set() bool { return k.config().Enabled() }

// validate returns the mistakes in the flags, reading the TLS files; never the password.
func (k *kafkaFlags) validate() []string {
	if _, err := k.config().Opts(); err != nil {
		return []string{"Kafka security (--kafka-*): " + strings.ReplaceAll(err.Error(), "\n", "; ")}
	}
	return nil
}

// opts are the client options of the flags (validated): TLS and SASL, nil without them.
func (k *kafkaFlags) opts() ([]kgo.Opt, error) {
	opts, err := k.config().Opts()
	if err != nil {
		return nil, configError{fmt.Errorf("Kafka security (--kafka-*): %w", err)}
	}
	return opts, nil
}

// kafkaSettings is the embedded kafkaFlags, so prologue reaches them through any command.
func (k *kafkaFlags) kafkaSettings() *kafkaFlags { return k }

// command is what every subcommand that talks to Kafka (run, send, dlq) has.
type command interface {
	// resolveSecrets reads every secret given as a file into its value field.
	resolveSecrets() error
	// validate reports every mistake in the flags at once (a configError), before anything
	// connects.
	validate() error
	kafkaSettings() *kafkaFlags
}

// prologue is how each command starts, in this order: its secrets read from their files, its
// flags checked, then the Kafka client options built from the checked flags. Nothing connects
// before all three succeed.
func prologue(c command) ([]kgo.Opt, error) {
	if err := c.resolveSecrets(); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c.kafkaSettings().opts()
}
