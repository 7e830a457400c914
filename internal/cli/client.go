package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cssc-project/cssc/internal/apiclient"
)

// serverFlags are the flags of every command that talks to a running server.
type serverFlags struct {
	server     string
	caFile     string
	clientCert string
	clientKey  string
}

const defaultServer = "http://127.0.0.1:5000"

func (sf *serverFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&sf.server, "server", defaultServer, "URL of the cssc server")
	fs.StringVar(&sf.caFile, "ca-file", "", "PEM file of the CA that signed the server's certificate (default: the system's)")
	fs.StringVar(&sf.clientCert, "client-cert", "", "client certificate for mTLS (PEM)")
	fs.StringVar(&sf.clientKey, "client-key", "", "key of --client-cert (PEM)")
}

func (sf *serverFlags) httpClient() (*http.Client, error) {
	if sf.caFile == "" && sf.clientCert == "" {
		return &http.Client{Timeout: 5 * time.Minute}, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if sf.caFile != "" {
		pem, err := os.ReadFile(sf.caFile)
		if err != nil {
			return nil, fmt.Errorf("read --ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", sf.caFile)
		}
		tc.RootCAs = pool
	}
	if sf.clientCert != "" || sf.clientKey != "" {
		c, err := tls.LoadX509KeyPair(sf.clientCert, sf.clientKey)
		if err != nil {
			return nil, fmt.Errorf("load --client-cert/--client-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}, nil
}

// client builds an API client: credentials from CSSC_TOKEN, then
// CSSC_USERNAME/CSSC_PASSWORD, then what `cssc login` saved for the server.
func (sf *serverFlags) client() (*apiclient.Client, error) {
	hc, err := sf.httpClient()
	if err != nil {
		return nil, err
	}
	server := strings.TrimRight(sf.server, "/")
	c := &apiclient.Client{Server: server, HTTP: hc}
	switch {
	case os.Getenv("CSSC_TOKEN") != "":
		c.Creds.Token = os.Getenv("CSSC_TOKEN")
	case os.Getenv("CSSC_USERNAME") != "":
		c.Creds.Username, c.Creds.Password = os.Getenv("CSSC_USERNAME"), os.Getenv("CSSC_PASSWORD")
	default:
		logins, err := readLogins()
		if err != nil {
			return nil, err
		}
		if l, ok := logins.Servers[server]; ok {
			c.Creds.Token = l.Token
		}
	}
	return c, nil
}

// logins is what `cssc login` saves: an API token per server, in a file
// only its owner can read.
type logins struct {
	Servers map[string]savedLogin `json:"servers"`
}

type savedLogin struct {
	Username string `json:"username"`
	TokenID  string `json:"token_id"`
	Token    string `json:"token"`
}

// loginFile is $CSSC_LOGIN_FILE, or cssc/logins.json in the user's config directory.
func loginFile() (string, error) {
	if p := os.Getenv("CSSC_LOGIN_FILE"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find where to keep logins (set CSSC_LOGIN_FILE): %w", err)
	}
	return filepath.Join(dir, "cssc", "logins.json"), nil
}

func readLogins() (logins, error) {
	l := logins{Servers: map[string]savedLogin{}}
	p, err := loginFile()
	if err != nil {
		return l, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("read logins: %w", err)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("read logins %s: %w", p, err)
	}
	if l.Servers == nil {
		l.Servers = map[string]savedLogin{}
	}
	return l, nil
}

func writeLogins(l logins) (string, error) {
	p, err := loginFile()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("save login: %w", err)
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return "", err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return "", fmt.Errorf("save login: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("save login: %w", err)
	}
	return p, nil
}

// addServerFlags adds the flags of a command that talks to a running server.
func addServerFlags(fs *pflag.FlagSet) {
	(&serverFlags{}).add(fs)
}

// apiClient builds the API client of cmd from its server flags (see
// addServerFlags) and the caller's credentials.
func (g *globals) apiClient(cmd *cobra.Command) (*apiclient.Client, error) {
	sf := serverFlags{server: defaultServer}
	get := func(name string, p *string) {
		if f := cmd.Flags().Lookup(name); f != nil {
			*p = f.Value.String()
		}
	}
	get("server", &sf.server)
	get("ca-file", &sf.caFile)
	get("client-cert", &sf.clientCert)
	get("client-key", &sf.clientKey)
	return sf.client()
}
