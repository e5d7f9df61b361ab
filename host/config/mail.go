package config

import (
	"net"
	"strings"
	"time"

	"wasmhttpd/host/mail"
)

// Mail is the SMTP submission server through which the `mail` subcommand
// and the alerts send. The password is never in the file: the file names
// an environment variable that holds it, so that the config can be
// shared, versioned and printed without leaking it.
type Mail struct {
	// Server is the submission server's host name or address; "" sends
	// no mail.
	Server string `toml:"server"`
	// Port is the server's port; 0 takes the TLS mode's: 587 for
	// "starttls", 465 for "tls", 25 otherwise.
	Port int `toml:"port"`
	// TLS is "starttls" (required), "tls" (implicit, on connect),
	// "opportunistic" (STARTTLS when offered) or "none".
	TLS      string `toml:"tls"`
	Username string `toml:"username"` // "" does not authenticate
	// PasswordEnv names the environment variable holding Username's
	// password.
	PasswordEnv string `toml:"password_env"`
	// Password exists only so that a password written in the file is
	// refused with a pointer to password_env rather than as an unknown
	// key; it is never accepted.
	Password *string `toml:"password"`
	// InsecureAuth allows the password over an unencrypted connection,
	// for a trusted relay on loopback; otherwise AUTH needs TLS.
	InsecureAuth bool `toml:"insecure_auth"`
	// From is the sender, "Name <addr>" or "addr".
	From string `toml:"from"`
	// To are the default recipients of alerts and of the subcommand.
	To []string `toml:"to"`
	// Helo is the name given in EHLO; "" takes the host name.
	Helo    string     `toml:"helo"`
	Timeout Duration   `toml:"timeout"` // each step of a session
	Alerts  MailAlerts `toml:"alerts"`
}

// MailAlerts are the mails the server sends about itself, [mail.alerts].
type MailAlerts struct {
	// Enabled sends alerts: a rejected policy module, a guest that keeps
	// failing, a full cache disk.
	Enabled bool `toml:"enabled"`
	// MinInterval is the least time between two alert mails; what
	// happens meanwhile is summarised in the next one.
	MinInterval   Duration `toml:"min_interval"`
	SubjectPrefix string   `toml:"subject_prefix"`
	// FailThreshold failures of one policy within FailWindow mean it
	// keeps failing.
	FailThreshold int      `toml:"fail_threshold"`
	FailWindow    Duration `toml:"fail_window"`
}

func defaultMail() Mail {
	return Mail{
		TLS:     "starttls",
		To:      []string{},
		Timeout: Duration{30 * time.Second},
		Alerts: MailAlerts{
			MinInterval:   Duration{10 * time.Minute},
			SubjectPrefix: "[wasmhttpd] ",
			FailThreshold: 10,
			FailWindow:    Duration{time.Minute},
		},
	}
}

func (m *Mail) check(p *problems) {
	if m.Password != nil {
		p.add("mail.password", "a password never goes in the file: put it in an environment variable and name that variable in mail.password_env")
	}
	if strings.ContainsAny(m.Server, " \t\r\n/@") {
		p.add("mail.server", "%q is not a host name or address", m.Server)
	} else if _, port, err := net.SplitHostPort(m.Server); err == nil {
		// Else it would be dialled as the name "host:port", and fail
		// as a lookup of a host that does not exist.
		p.add("mail.server", "%q includes a port: put %s in mail.port", m.Server, port)
	}
	inRange(p, "mail.port", m.Port, 0, 65535)
	oneOf(p, "mail.tls", m.TLS, "starttls", "tls", "opportunistic", "none")
	switch {
	case m.PasswordEnv != "" && !isEnvName(m.PasswordEnv):
		p.add("mail.password_env", "%q is not an environment variable name (letters, digits and _, not starting with a digit)", m.PasswordEnv)
	case m.Username != "" && m.PasswordEnv == "":
		p.add("mail.username", "a username needs mail.password_env, the environment variable holding its password")
	}
	if m.From != "" {
		if _, err := mail.ParseAddress(m.From); err != nil {
			p.add("mail.from", "%v (write it like \"Name <ops@example.org>\")", err)
		}
	}
	for _, to := range m.To {
		if _, err := mail.ParseAddress(to); err != nil {
			p.add("mail.to", "%v (write it like \"ops@example.org\")", err)
		}
	}
	if strings.ContainsAny(m.Helo, " \t\r\n") {
		p.add("mail.helo", "%q is not a host name", m.Helo)
	}
	positive(p, "mail.timeout", m.Timeout)

	a := &m.Alerts
	if a.Enabled && (m.Server == "" || m.From == "" || len(m.To) == 0) {
		p.add("mail.alerts.enabled", "alerts need mail.server, mail.from and mail.to")
	}
	positive(p, "mail.alerts.min_interval", a.MinInterval)
	if strings.ContainsAny(a.SubjectPrefix, "\r\n") {
		p.add("mail.alerts.subject_prefix", "must not contain a line break")
	}
	atLeast(p, "mail.alerts.fail_threshold", a.FailThreshold, 1)
	positive(p, "mail.alerts.fail_window", a.FailWindow)
}

// isEnvName accepts a portable environment variable name.
func isEnvName(s string) bool {
	for i, c := range s {
		if c != '_' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9' || i == 0) {
			return false
		}
	}
	return s != ""
}
