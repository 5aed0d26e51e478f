package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// secret resolves a secret given either as a value (--X, or its env var) or as a file
// (--X-file): a file keeps the secret out of `ps` and out of the environment. One trailing
// newline (what `echo` and most secret stores write) is dropped. Giving both is a configError;
// so is an empty or unreadable file. Messages name the flag and the file, never the secret.
func secret(flag, value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	if value != "" {
		return "", configError{fmt.Errorf("%s and %s-file are both set: give one", flag, flag)}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named once, below
		}
		return "", configError{fmt.Errorf("%s-file %s: %v", flag, file, err)}
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", configError{fmt.Errorf("%s-file %s is empty", flag, file)}
	}
	return s, nil
}

// resolveSecrets fills every secret of run given as a file into its value field, before
// anything reads them: the code that builds clients only ever sees the values.
func (c *runCmd) resolveSecrets() error {
	return resolveSecrets(append(providerKeys(&c.RyeKey, &c.RyeKeyFile, &c.DRKey, &c.DRKeyFile), c.kafkaFlags.secret())...)
}

// resolveSecrets does for dlq what runCmd.resolveSecrets does for run.
func (c *dlqCmd) resolveSecrets() error {
	return resolveSecrets(append(providerKeys(&c.RyeKey, &c.RyeKeyFile, &c.DRKey, &c.DRKeyFile), c.kafkaFlags.secret())...)
}

// resolveSecrets does for send what runCmd.resolveSecrets does for run.
func (c *sendCmd) resolveSecrets() error {
	return resolveSecrets(c.kafkaFlags.secret())
}

// secretFlag is a secret's flag name, its value field and its -file field.
type secretFlag struct {
	flag        string
	value, file *string
}

// resolveSecrets resolves each flag with secret, setting its value and clearing its file, and
// reports every mistake at once (a configError).
func resolveSecrets(flags ...secretFlag) error {
	var errs []error
	for _, f := range flags {
		v, err := secret(f.flag, *f.value, *f.file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*f.value, *f.file = v, ""
	}
	return errors.Join(errs...)
}
