// Package testenv gives the test suites the real services that `make test-integration` points
// them at (ORDERFLOW_TEST_* variables, printed by scripts/services/env.sh), with the security
// those services require, so every suite connects the same way. With the variables unset the
// suites use their in-process fakes.
package testenv
