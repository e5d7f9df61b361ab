package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"wasmhttpd/host/alert"
	"wasmhttpd/host/config"
	"wasmhttpd/host/mail"
	"wasmhttpd/host/smtp"
)

// maxStdinBody bounds a body read from stdin: a mail, not a disk image.
const maxStdinBody = 16 << 20

// runMail is `wasmhttpd mail`: it sends one message through the [mail]
// settings of the config file, the body from -body or stdin.
func runMail(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("wasmhttpd mail", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "config.toml", "the configuration `file` whose [mail] table says how to send")
	to := flags.String("to", "", "the recipients, `ADDR[,ADDR]` (default mail.to)")
	subject := flags.String("subject", "", "the subject `TEXT` (required)")
	body := flags.String("body", "", "the body `TEXT`; without it the body is read from stdin")
	var attach []string
	flags.Func("attach", "attach `FILE` (repeatable)", func(v string) error {
		attach = append(attach, v)
		return nil
	})
	flags.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wasmhttpd mail -to ADDR[,ADDR] -subject TEXT [-body TEXT] [-attach FILE]... [-config FILE]\n\n")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitConfig
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "wasmhttpd mail: "+format+"\n", a...)
		return code
	}
	if flags.NArg() > 0 {
		return fail(exitConfig, "unexpected argument %q (the body goes in -body or on stdin)", flags.Arg(0))
	}
	if *subject == "" {
		return fail(exitConfig, "-subject is required")
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return fail(exitConfig, "%v", err)
	}
	send, err := newSender(cfg.Mail)
	if err != nil {
		return fail(exitConfig, "%s: %v", *configPath, err)
	}
	msg := &mail.Message{Subject: *subject, Text: *body}
	if *to != "" {
		if msg.To, err = mail.ParseAddressList(*to); err != nil {
			return fail(exitConfig, "-to: %v", err)
		}
	}
	if !isFlagSet(flags, "body") {
		text, err := io.ReadAll(io.LimitReader(stdin, maxStdinBody+1))
		switch {
		case err != nil:
			return fail(exitRuntime, "reading the body from stdin: %v", err)
		case len(text) > maxStdinBody:
			return fail(exitConfig, "the body on stdin is over %d MiB", maxStdinBody>>20)
		case !utf8.Valid(text):
			return fail(exitConfig, "the body on stdin is not UTF-8 text (send binary data with -attach)")
		}
		msg.Text = string(text)
	}
	for _, path := range attach {
		a, err := mail.ReadAttachment(path)
		if err != nil {
			return fail(exitConfig, "-attach: %v", err)
		}
		msg.Attachments = append(msg.Attachments, a)
	}
	// Ctrl-C ends the session at once rather than after a timeout.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := send(ctx, msg); err != nil {
		return fail(exitRuntime, "%v", err)
	}
	fmt.Fprintf(stdout, "sent to %s\n", strings.Join(msg.Recipients(), ", "))
	return 0
}

func isFlagSet(flags *flag.FlagSet, name string) bool {
	set := false
	flags.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// sender sends a message through the [mail] settings; a message without
// recipients goes to mail.to, and From is always mail.from.
type sender func(ctx context.Context, msg *mail.Message) error

// newSender checks what the config file alone cannot — that mail.server
// and mail.from are set, that the password's variable exists — and
// returns the function that sends.
func newSender(m config.Mail) (sender, error) {
	if m.Server == "" {
		return nil, errors.New("mail.server: not set: add a [mail] table naming the submission server")
	}
	if m.From == "" {
		return nil, errors.New("mail.from: not set: mail needs a sender address")
	}
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("mail.from: %w", err)
	}
	defaults := make([]mail.Address, len(m.To))
	for i, s := range m.To {
		if defaults[i], err = mail.ParseAddress(s); err != nil {
			return nil, fmt.Errorf("mail.to: %w", err)
		}
	}
	var password string
	if m.PasswordEnv != "" {
		var ok bool
		switch password, ok = os.LookupEnv(m.PasswordEnv); {
		case !ok:
			return nil, fmt.Errorf("mail.password_env: the environment variable %s is not set", m.PasswordEnv)
		case password == "":
			// Surely a slip (an export of an unset variable), which the
			// server would answer with a bare authentication failure.
			return nil, fmt.Errorf("mail.password_env: the environment variable %s is empty", m.PasswordEnv)
		}
	}
	port := m.Port
	if port == 0 {
		port = smtp.DefaultPort(m.TLS)
	}
	cfg := smtp.Config{
		Addr:              net.JoinHostPort(m.Server, strconv.Itoa(port)),
		TLS:               m.TLS,
		Username:          m.Username,
		Password:          password,
		AllowInsecureAuth: m.InsecureAuth,
		Helo:              m.Helo,
		Timeout:           m.Timeout.Duration,
	}
	return func(ctx context.Context, msg *mail.Message) error {
		msg.From = from
		if len(msg.To) == 0 {
			msg.To = defaults
		}
		if len(msg.To) == 0 {
			return errors.New("no recipients: give -to or set mail.to")
		}
		data, err := msg.Bytes()
		if err != nil {
			return err
		}
		return smtp.Send(ctx, cfg, from.Addr, msg.Recipients(), data)
	}, nil
}

// startAlerts starts the alert mailer when [mail.alerts] is enabled; nil
// otherwise, which ignores every report.
func startAlerts(m config.Mail, logger *slog.Logger) (*alert.Alerter, error) {
	if !m.Alerts.Enabled {
		return nil, nil
	}
	send, err := newSender(m)
	if err != nil {
		return nil, err
	}
	a := m.Alerts
	return alert.New(alert.Options{
		Send: func(ctx context.Context, subject, body string) error {
			return send(ctx, &mail.Message{Subject: subject, Text: body})
		},
		SubjectPrefix: a.SubjectPrefix,
		MinInterval:   a.MinInterval.Duration,
		FailThreshold: a.FailThreshold,
		FailWindow:    a.FailWindow.Duration,
		SendTimeout:   4 * m.Timeout.Duration, // connect, TLS, and a few commands
		Logger:        logger,
	}), nil
}
