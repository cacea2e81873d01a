package email

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/tenantkit/tenantkit/internal/integration"
)

// TLS modes of the smtp provider's tls setting.
const (
	SMTPStartTLS = "starttls" // plain connection upgraded with STARTTLS, which must be offered
	SMTPTLS      = "tls"      // implicit TLS from the first byte (usually port 465)
	SMTPNoTLS    = "none"     // no encryption: for local test servers only
)

func smtpSpec() integration.Spec {
	return integration.Spec{
		Type:        integration.Email,
		Provider:    ProviderSMTP,
		Description: "Any SMTP relay (submission with STARTTLS, implicit TLS, or a local server).",
		Credentials: []integration.Field{
			{Name: "username", Description: "SMTP AUTH user; leave out with password for a relay without auth."},
			{Name: "password", Description: "SMTP AUTH password."},
		},
		Settings: []integration.Field{
			{Name: "host", Required: true, Description: "Relay host name."},
			{Name: "port", Description: "Relay port. Defaults to 587."},
			{Name: "tls", Description: `"starttls", "tls" (implicit) or "none" (local test servers only). Defaults to "starttls".`},
			{Name: "helo", Description: "Name sent in EHLO. Defaults to this machine's host name."},
			{Name: "ca_cert", Description: "PEM CA certificates trusted besides the system's, for a relay with a private CA. Defaults to none."},
		},
	}
}

// smtpSender sends through an SMTP relay with go-mail, one connection per
// call.
type smtpSender struct {
	host     string
	port     int
	tlsMode  string
	helo     string
	roots    *x509.CertPool // nil: the system's
	username secret
	password secret
	secrets  []string
}

// smtpTimeout bounds a connection when ctx has no earlier deadline.
const smtpTimeout = 30 * time.Second

func newSMTP(cfg integration.Config) (sender, error) {
	s := &smtpSender{
		host:     settingOr(cfg.Settings, "host", ""),
		tlsMode:  strings.ToLower(settingOr(cfg.Settings, "tls", SMTPStartTLS)),
		helo:     settingOr(cfg.Settings, "helo", ""),
		username: secret(cfg.Credentials["username"]),
		password: secret(cfg.Credentials["password"]),
		secrets:  secretValues(cfg),
	}
	port, err := strconv.Atoi(settingOr(cfg.Settings, "port", "587"))
	if err != nil || port < 1 || port > 65535 {
		return nil, invalidSetting(ProviderSMTP, "port", "must be a number from 1 to 65535")
	}
	s.port = port
	switch s.tlsMode {
	case SMTPStartTLS, SMTPTLS, SMTPNoTLS:
	default:
		return nil, invalidSetting(ProviderSMTP, "tls", `must be "starttls", "tls" or "none"`)
	}
	if (s.username == "") != (s.password == "") {
		return nil, fmt.Errorf("%w: %s %s: credentials \"username\" and \"password\" go together",
			integration.ErrInvalidConfig, integration.Email, ProviderSMTP)
	}
	if pem := strings.TrimSpace(cfg.Settings["ca_cert"]); pem != "" {
		if s.roots, err = rootsWith(pem); err != nil {
			return nil, invalidSetting(ProviderSMTP, "ca_cert", "holds no PEM certificate")
		}
	}
	return s, nil
}

// rootsWith returns the system's roots plus the certificates in pem.
func rootsWith(pem string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM([]byte(pem)) {
		return nil, errors.New("no certificate")
	}
	return pool, nil
}

func (s *smtpSender) String() string {
	auth := "no auth"
	if s.username != "" {
		auth = "auth"
	}
	return fmt.Sprintf("email smtp %s (%s, %s)", net.JoinHostPort(s.host, strconv.Itoa(s.port)), s.tlsMode, auth)
}
func (s *smtpSender) GoString() string { return s.String() }

func (s *smtpSender) client() (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(smtpTimeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: s.host, RootCAs: s.roots, MinVersion: tls.VersionTLS12}),
	}
	switch s.tlsMode {
	case SMTPTLS:
		opts = append(opts, gomail.WithSSL())
	case SMTPStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case SMTPNoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.helo != "" {
		opts = append(opts, gomail.WithHELO(s.helo))
	}
	if s.username != "" {
		// Over TLS go-mail picks the strongest mechanism the server offers;
		// without it, go-mail refuses every mechanism that sends the password
		// in the clear unless told to, which "none" (local servers) does.
		auth := gomail.SMTPAuthAutoDiscover
		if s.tlsMode == SMTPNoTLS {
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(string(s.username)), gomail.WithPassword(string(s.password)))
	}
	return gomail.NewClient(s.host, opts...)
}

// Send delivers m over one connection and returns its Message-ID (without
// angle brackets).
func (s *smtpSender) Send(ctx context.Context, m Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	msg, id, err := smtpMessage(m)
	if err != nil {
		return "", s.fail("send", err)
	}
	c, err := s.client()
	if err != nil {
		return "", s.fail("send", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return "", s.fail("send", err)
	}
	return id, nil
}

// Test connects, negotiates TLS as configured, authenticates when there are
// credentials, and says QUIT: no mail is sent.
func (s *smtpSender) Test(ctx context.Context) error {
	c, err := s.client()
	if err != nil {
		return s.fail("test", err)
	}
	conn, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return s.fail("test", err)
	}
	if err := c.CloseWithSMTPClient(conn); err != nil {
		return s.fail("test", err)
	}
	return nil
}

func smtpMessage(m Message) (*gomail.Msg, string, error) {
	msg := gomail.NewMsg()
	if err := msg.FromFormat(m.From.Name, m.From.Email); err != nil {
		return nil, "", err
	}
	for _, list := range []struct {
		add  func(name, addr string) error
		addr []Address
	}{{msg.AddToFormat, m.To}, {msg.AddCcFormat, m.Cc}, {msg.AddBccFormat, m.Bcc}} {
		for _, a := range list.addr {
			if err := list.add(a.Name, a.Email); err != nil {
				return nil, "", err
			}
		}
	}
	if m.ReplyTo != nil {
		if err := msg.ReplyToFormat(m.ReplyTo.Name, m.ReplyTo.Email); err != nil {
			return nil, "", err
		}
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	id := messageID(m.From)
	msg.SetMessageIDWithValue(id)
	for _, name := range m.sortedHeaders() {
		msg.SetGenHeader(gomail.Header(name), m.Headers[name])
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, id, nil
}

// messageID makes a Message-ID on the sender's domain, so that it says
// whose mail it is rather than which machine sent it.
func messageID(from Address) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	domain := from.Domain()
	if domain == "" {
		domain = "localhost"
	}
	return hex.EncodeToString(b[:]) + "@" + domain
}

// fail wraps an SMTP error. A server's reply becomes a *ProviderError
// carrying its code; anything else is redacted.
func (s *smtpSender) fail(op string, err error) error {
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return &ProviderError{Provider: ProviderSMTP, Op: op, Status: reply.Code, Message: excerpt(reply.Msg, s.secrets)}
	}
	var sendErr *gomail.SendError
	if errors.As(err, &sendErr) && sendErr.ErrorCode() != 0 {
		return &ProviderError{Provider: ProviderSMTP, Op: op, Status: sendErr.ErrorCode(), Message: excerpt(sendErr.Error(), s.secrets)}
	}
	return redactError(fmt.Errorf("email smtp: %s: %w", op, err), s.secrets)
}
