package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit statuses, the same for every command.
const (
	exitOK          = 0   // success: every expectation met, every file valid
	exitNotMet      = 1   // some expectation not met, or a run that could not happen
	exitBadInput    = 2   // a scenario file, a flag, or usage (an unknown command)
	exitInterrupted = 130 // SIGINT or SIGTERM ended the command early
)

// exitStatusHelp documents the exit statuses in every command's help.
const exitStatusHelp = `Exit status (the same for every icelab command):
  0    success: every expectation met (validate: every file valid; relay
       serve: served until SIGINT or SIGTERM, then closed cleanly)
  1    some expectation was not met, or a run could not happen
  2    bad input: a scenario file, a flag, an output location, or usage
       (a missing argument, an unknown command)
  130  interrupted by SIGINT or SIGTERM before the work was done`

// exitError ends the command with a status; err, when set, is printed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// withStatus ends a command with status code once its output is printed;
// the error carries no message of its own.
func withStatus(code int) error {
	if code == exitOK {
		return nil
	}
	return &exitError{code: code}
}

// badInput marks err as bad input: the command exits 2 and prints err.
func badInput(err error) error { return &exitError{code: exitBadInput, err: err} }

// statusOf maps a command's error to its exit status, printing its message
// to stderr: an exitError has its own status, an error before the command
// ran (flags, arguments, an unknown command) is bad input, any other
// error is 1.
func statusOf(err error, ran bool, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	code := exitNotMet
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
		if ee.err == nil {
			return code
		}
	case !ran:
		code = exitBadInput
	}
	fmt.Fprintln(stderr, "icelab:", err)
	return code
}

// documentExitStatus adds the exit statuses to the help of cmd and every
// command below it, and records in ran whether a command's own code
// started, which tells usage errors from the command's own.
func documentExitStatus(cmd *cobra.Command, ran *bool) {
	long := cmd.Long
	if long == "" {
		long = cmd.Short + "."
	}
	cmd.Long = long + "\n\n" + exitStatusHelp
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			*ran = true
			return run(c, args)
		}
	}
	if run := cmd.Run; run != nil {
		cmd.Run = func(c *cobra.Command, args []string) {
			*ran = true
			run(c, args)
		}
	}
	if cmd.HasSubCommands() && !cmd.Runnable() {
		// A command that only groups others ("icelab relay"): without a
		// subcommand, or with an unknown one, it is a usage error, not a
		// help page with status 0.
		cmd.Args = cobra.NoArgs
		cmd.RunE = func(c *cobra.Command, _ []string) error {
			c.SetOut(c.ErrOrStderr())
			_ = c.Usage()
			return badInput(fmt.Errorf("%s needs a subcommand", c.CommandPath()))
		}
	}
	for _, c := range cmd.Commands() {
		documentExitStatus(c, ran)
	}
}
