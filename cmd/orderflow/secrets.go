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
