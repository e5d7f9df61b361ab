package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMailDefaults(t *testing.T) {
	m := Default().Mail
	assert.Equal(t, Mail{
		TLS: "starttls", To: []string{}, Timeout: Duration{30 * time.Second},
		Alerts: MailAlerts{MinInterval: Duration{10 * time.Minute}, SubjectPrefix: "[wasmhttpd] ",
			FailThreshold: 10, FailWindow: Duration{time.Minute}},
	}, m)
}

func TestMailEveryKeySet(t *testing.T) {
	text := `
[mail]
server = "smtp.example.org"
port = 2525
tls = "tls"
username = "alerts"
password_env = "WASMHTTPD_SMTP_PASSWORD"
insecure_auth = true
from = "wasmhttpd <ops@example.org>"
to = ["a@example.org", "B <b@example.org>"]
helo = "edge-1.example.org"
timeout = "5s"
[mail.alerts]
enabled = true
min_interval = "1h"
subject_prefix = "ALERT: "
fail_threshold = 3
fail_window = "30s"
`
	cfg, err := Parse([]byte(text), "c.toml", siteDir(t))
	require.NoError(t, err)
	assert.Equal(t, Mail{
		Server: "smtp.example.org", Port: 2525, TLS: "tls", Username: "alerts",
		PasswordEnv: "WASMHTTPD_SMTP_PASSWORD", InsecureAuth: true,
		From: "wasmhttpd <ops@example.org>", To: []string{"a@example.org", "B <b@example.org>"},
		Helo: "edge-1.example.org", Timeout: Duration{5 * time.Second},
		Alerts: MailAlerts{Enabled: true, MinInterval: Duration{time.Hour}, SubjectPrefix: "ALERT: ",
			FailThreshold: 3, FailWindow: Duration{30 * time.Second}},
	}, cfg.Mail)
}

func TestMailErrorsNameKeyAndLine(t *testing.T) {
	tests := []struct {
		name, toml string
		key        string
		line       int
		msg        string
	}{
		{"password in the file", "[mail]\nserver = \"x\"\npassword = \"hunter2\"\n", "mail.password", 3, "name that variable in mail.password_env"},
		{"bad tls", "[mail]\n\ntls = \"ssl\"\n", "mail.tls", 3, `"ssl" is not one of starttls, tls, opportunistic, none`},
		{"port", "[mail]\nport = 70000\n", "mail.port", 2, "out of range"},
		{"server with a path", "[mail]\nserver = \"smtp://x\"\n", "mail.server", 2, "not a host name"},
		{"server with a port", "[mail]\nserver = \"smtp.example.org:587\"\n", "mail.server", 2, `"smtp.example.org:587" includes a port: put 587 in mail.port`},
		{"IPv6 server with a port", "[mail]\nserver = \"[::1]:25\"\n", "mail.server", 2, "put 25 in mail.port"},
		{"password_env not a name", "[mail]\npassword_env = \"MY-PASS\"\n", "mail.password_env", 2, "not an environment variable name"},
		{"password_env with a digit first", "[mail]\npassword_env = \"1PASS\"\n", "mail.password_env", 2, "not an environment variable name"},
		{"username without password_env", "[mail]\nusername = \"u\"\n", "mail.username", 2, "needs mail.password_env"},
		{"bad from", "[mail]\nfrom = \"nobody\"\n", "mail.from", 2, `address "nobody": mail: missing '@'`},
		{"from non-ASCII, which the envelope cannot carry", "[mail]\nfrom = \"Z <zo\u00eb@example.org>\"\n", "mail.from", 2, `smtp: address "zoë@example.org"`},
		{"bad to", "[mail]\nto = [\"a@example.org\", \"b c\"]\n", "mail.to", 2, `address "b c": mail: no angle-addr (write it like "ops@example.org")`},
		{"to with a line break", "[mail]\nto = [\"a@example.org\\r\\nBcc: x@example.org\"]\n", "mail.to", 2, "contains a line break"},
		{"helo with space", "[mail]\nhelo = \"a b\"\n", "mail.helo", 2, "not a host name"},
		{"zero timeout", "[mail]\ntimeout = \"0s\"\n", "mail.timeout", 2, "longer than 0s"},
		{"alerts without server", "[mail.alerts]\nenabled = true\n", "mail.alerts.enabled", 2, "alerts need mail.server, mail.from and mail.to"},
		{"alerts interval", "[mail.alerts]\nmin_interval = \"0s\"\n", "mail.alerts.min_interval", 2, "longer than 0s"},
		{"alerts prefix", "[mail.alerts]\nsubject_prefix = \"a\\nBcc: x\"\n", "mail.alerts.subject_prefix", 2, "line break"},
		{"alerts threshold", "[mail.alerts]\nfail_threshold = 0\n", "mail.alerts.fail_threshold", 2, "the minimum is 1"},
		{"alerts window", "[mail]\n[mail.alerts]\nfail_window = \"1x\"\n", "mail.alerts.fail_window", 3, "not a duration"},
		{"unknown key", "[mail]\nsmtp_server = \"x\"\n", "mail.smtp_server", 2, "unknown key"},
		{"wrong type", "[mail]\nto = \"a@example.org\"\n", "mail.to", 2, "expected an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cerr := parseFails(t, siteDir(t), tt.toml, tt.key, tt.line)
			assert.Contains(t, cerr.Msg, tt.msg)
			assert.NotContains(t, cerr.Error(), "hunter2", "the password is not repeated")
		})
	}
}

func TestMailEnabledAlertsAccepted(t *testing.T) {
	text := "[mail]\nserver = \"127.0.0.1\"\nfrom = \"ops@example.org\"\nto = [\"a@example.org\"]\n[mail.alerts]\nenabled = true\n"
	cfg, err := Parse([]byte(text), "c.toml", siteDir(t))
	require.NoError(t, err)
	assert.True(t, cfg.Mail.Alerts.Enabled)
	_, err = Parse([]byte("[mail]\nserver = \"::1\"\n"), "c.toml", siteDir(t))
	assert.NoError(t, err, "an IPv6 address is no host:port")
	assert.Equal(t, 0, cfg.Mail.Port, "0: the TLS mode's port, chosen by the client")
}
