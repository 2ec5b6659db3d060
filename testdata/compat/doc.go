// Package compat is a module of its own that uses icelab as another team's
// module would: it requires icelab (replaced by this checkout) beside a
// pion version of its own choosing, and runs a spec with harness.RunT and
// the matchers. Its generations package runs pion libraries built on
// transport/v3 and transport/v4 over vnet through the adapters.
//
// `make test` runs it; it lives under testdata so that the main module's
// ./... leaves it alone.
package compat
