package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cssc-project/cssc/internal/apiclient"
	"github.com/cssc-project/cssc/internal/auth"
	"github.com/cssc-project/cssc/internal/datadir"
)

// Commands that create a secret print it alone on standard output and say
// everything else on standard error, so a script can capture it.

func newAdminCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Initialise a data directory and manage server keys"}
	var dataDir string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Turn authentication on for a new data directory and create the first admin",
		Long: `Initialise a data directory (offline, before or between server starts): create
the admin user "admin" and the token-signing key. The admin's secret is
CSSC_ADMIN_PASSWORD if set (12 characters at least), otherwise a generated
one printed once on standard output. From then on the server always
requires authentication.`,
		Example: "  cssc admin init --data-dir ./cssc-data > admin-secret.txt\n  CSSC_ADMIN_PASSWORD=… cssc admin init --data-dir ./cssc-data",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := datadir.Open(cmd.Context(), dataDir, "")
			if err != nil {
				return err
			}
			defer func() { _ = dir.Close() }()
			given := os.Getenv("CSSC_ADMIN_PASSWORD")
			secret, err := auth.Init(cmd.Context(), dir.Meta, dir.KeyDir(), given)
			if err != nil {
				return fmt.Errorf("initialise %s: %w", dataDir, err)
			}
			fmt.Fprintf(g.stderr, "initialised %s: authentication is on; user %q has admin on **\n", dataDir, auth.AdminName)
			if given != "" {
				fmt.Fprintln(g.stderr, "the admin's password is CSSC_ADMIN_PASSWORD")
				return nil
			}
			fmt.Fprintln(g.stderr, "the admin's secret follows on standard output; it is shown only this once:")
			_, err = fmt.Fprintln(g.stdout, secret)
			return err
		},
	}
	dataDirFlag(initCmd.Flags(), &dataDir)

	var offlineDir string
	rotate := &cobra.Command{
		Use:   "rotate-token-key",
		Short: "Make a new registry token-signing key (tokens signed by the previous key stay valid until they expire)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if offlineDir != "" {
				dir, err := datadir.Open(cmd.Context(), offlineDir, "")
				if err != nil {
					return err
				}
				defer func() { _ = dir.Close() }()
				kid, err := auth.RotateKeysOffline(dir.KeyDir())
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(g.stdout, "new token-signing key", kid)
				return err
			}
			var out map[string]string
			if err := g.call(cmd, "POST", "/api/v1/keys/token/rotate", nil, &out); err != nil {
				return err
			}
			_, err := fmt.Fprintln(g.stdout, "new token-signing key", out["key_id"])
			return err
		},
	}
	rotate.Flags().StringVar(&offlineDir, "data-dir", "", "rotate offline in this data directory (the server must be stopped)")
	addServerFlags(rotate.Flags())
	cmd.AddCommand(initCmd, rotate)
	return cmd
}

// call sends one API request with cmd's server flags and credentials.
func (g *globals) call(cmd *cobra.Command, method, path string, in, out any) error {
	c, err := g.apiClient(cmd)
	if err != nil {
		return err
	}
	err = c.Do(cmd.Context(), method, path, in, out)
	if errors.Is(err, apiclient.ErrUnauthorized) {
		return fmt.Errorf("%w\nlog in with `cssc login --server %s`, or set CSSC_TOKEN or CSSC_USERNAME/CSSC_PASSWORD", err, c.Server)
	}
	return err
}

// parseExpiry reads "90d", "12h" or an RFC 3339 time; "" is never.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" || s == "never" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return time.Time{}, fmt.Errorf("invalid expiry %q: want e.g. 90d, 12h or an RFC 3339 time", s)
		}
		return now.AddDate(0, 0, n), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("invalid expiry %q: want e.g. 90d, 12h or an RFC 3339 time", s)
	}
	return now.Add(d), nil
}

// grantFlags are --role and --scope (repeatable): one role on each scope.
type grantFlags struct {
	role   string
	scopes []string
}

func (gf *grantFlags) add(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&gf.role, "role", "", "role to grant "+what+": pull, push, delete or admin")
	cmd.Flags().StringArrayVar(&gf.scopes, "scope", nil, "repository glob the role applies to (repeatable), e.g. 'team/**'")
}

func (gf *grantFlags) grants() ([]auth.Grant, error) {
	if gf.role == "" && len(gf.scopes) == 0 {
		return nil, nil
	}
	if gf.role == "" || len(gf.scopes) == 0 {
		return nil, errors.New("--role and --scope go together")
	}
	role, err := auth.ParseRole(gf.role)
	if err != nil {
		return nil, err
	}
	var out []auth.Grant
	for _, s := range gf.scopes {
		if err := auth.ValidatePattern(s); err != nil {
			return nil, err
		}
		out = append(out, auth.Grant{Role: role, Pattern: s})
	}
	return out, nil
}

func readSecretStdin(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}

func newUserCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users (needs admin)"}
	addServerFlags(cmd.PersistentFlags())
	var (
		gf       grantFlags
		admin    bool
		pwdStdin bool
	)
	add := &cobra.Command{
		Use:     "add NAME",
		Short:   "Create a user; prints a generated password unless --password-stdin",
		Example: "  cssc user add alice --role push --scope 'team-a/**'\n  cssc user add bob --admin --password-stdin < pw.txt",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			grants, err := gf.grants()
			if err != nil {
				return err
			}
			if admin {
				grants = append(grants, auth.Grant{Role: auth.RoleAdmin, Pattern: "**"})
			}
			n := auth.NewIdentity{Name: args[0], Kind: auth.KindUser, Grants: grants}
			if pwdStdin {
				if n.Password, err = readSecretStdin(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			return g.createIdentity(cmd, n)
		},
	}
	gf.add(add, "the user")
	add.Flags().BoolVar(&admin, "admin", false, "make the user an admin (admin on **)")
	add.Flags().BoolVar(&pwdStdin, "password-stdin", false, "read the password from standard input")
	cmd.AddCommand(add, g.listCmd(auth.KindUser), g.toggleCmd("disable", true), g.toggleCmd("enable", false),
		g.grantCmd(false), g.grantCmd(true), g.resetCmd("reset-password"))
	return cmd
}

func newRobotCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "robot", Short: "Manage robot (service) accounts (needs admin)"}
	addServerFlags(cmd.PersistentFlags())
	var (
		gf          grantFlags
		expires     string
		pipeline    bool
		certSubject string
	)
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a robot account; prints its secret, once",
		Long: `Create a robot account. Its secret is printed alone on standard output, once;
the robot logs in with NAME and that secret (docker/crane/oras login, or
CSSC_USERNAME/CSSC_PASSWORD). With --cert-subject, a client certificate
with that subject (verified by the server's --tls-client-ca) logs in as it.`,
		Example: "  cssc robot add ci-pull --role pull --scope 'golden/**' --expires 90d > ci-pull.secret",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			grants, err := gf.grants()
			if err != nil {
				return err
			}
			exp, err := parseExpiry(expires, time.Now())
			if err != nil {
				return err
			}
			return g.createIdentity(cmd, auth.NewIdentity{Name: args[0], Kind: auth.KindRobot, Grants: grants,
				Expires: exp, Pipeline: pipeline, CertSubject: certSubject})
		},
	}
	gf.add(add, "the robot")
	add.Flags().StringVar(&expires, "expires", "", "when the robot stops working: 90d, 12h or an RFC 3339 time (default never)")
	add.Flags().BoolVar(&pipeline, "pipeline", false, "make it the acquire pipeline's identity (reads quarantine/, writes golden/)")
	add.Flags().StringVar(&certSubject, "cert-subject", "", "client certificate subject that logs in as this robot, e.g. 'CN=deployer,O=acme'")
	revoke := g.toggleCmd("revoke", true)
	revoke.Short = "Revoke a robot account: it and its tokens stop working at once"
	cmd.AddCommand(add, g.listCmd(auth.KindRobot), revoke, g.grantCmd(false), g.grantCmd(true), g.resetCmd("rotate-secret"))
	return cmd
}

func (g *globals) createIdentity(cmd *cobra.Command, n auth.NewIdentity) error {
	var out map[string]string
	if err := g.call(cmd, "POST", "/api/v1/users", n, &out); err != nil {
		return err
	}
	if out["secret"] == "" {
		fmt.Fprintf(g.stderr, "created %s %s\n", n.Kind, n.Name)
		return nil
	}
	fmt.Fprintf(g.stderr, "created %s %s; its secret follows on standard output, shown only this once\n", n.Kind, n.Name)
	_, err := fmt.Fprintln(g.stdout, out["secret"])
	return err
}

func (g *globals) listCmd(kind string) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List " + kind + "s",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Identities []auth.Identity `json:"identities"`
			}
			if err := g.call(cmd, "GET", "/api/v1/users?kind="+kind, nil, &out); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(g.stdout).Encode(out.Identities)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tGRANTS\tEXPIRES\tCREATED BY")
			for _, id := range out.Identities {
				state := "active"
				if id.Disabled {
					state = "disabled"
				} else if !id.Expires.IsZero() && time.Now().After(id.Expires) {
					state = "expired"
				}
				var gs []string
				for _, gr := range id.Grants {
					gs = append(gs, string(gr.Role)+":"+gr.Pattern)
				}
				if id.Pipeline {
					gs = append(gs, "(pipeline)")
				}
				exp := "never"
				if !id.Expires.IsZero() {
					exp = id.Expires.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id.Name, state, strings.Join(gs, " "), exp, id.CreatedBy)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func (g *globals) toggleCmd(verb string, disable bool) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " an account",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op := "enable"
			if disable {
				op = "disable"
			}
			if err := g.call(cmd, "POST", "/api/v1/users/"+url.PathEscape(args[0])+"/"+op, nil, nil); err != nil {
				return err
			}
			_, err := fmt.Fprintf(g.stderr, "%s: %sd\n", args[0], op)
			return err
		},
	}
}

func (g *globals) grantCmd(remove bool) *cobra.Command {
	var gf grantFlags
	use, short := "grant NAME", "Give an account a role on scopes"
	if remove {
		use, short = "ungrant NAME", "Take a role on scopes from an account"
	}
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			grants, err := gf.grants()
			if err != nil {
				return err
			}
			if len(grants) == 0 {
				return errors.New("give --role and --scope")
			}
			for _, gr := range grants {
				path := "/api/v1/users/" + url.PathEscape(args[0]) + "/grants"
				if remove {
					err = g.call(cmd, "DELETE", path+"?role="+url.QueryEscape(string(gr.Role))+"&scope="+url.QueryEscape(gr.Pattern), nil, nil)
				} else {
					err = g.call(cmd, "POST", path, gr, nil)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stderr, "%s: %s %s\n", args[0], map[bool]string{false: "granted", true: "removed"}[remove], gr)
			}
			return nil
		},
	}
	gf.add(c, "")
	return c
}

func (g *globals) resetCmd(verb string) *cobra.Command {
	return &cobra.Command{
		Use: verb + " NAME", Short: "Give an account a new generated secret (printed once)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out map[string]string
			if err := g.call(cmd, "POST", "/api/v1/users/"+url.PathEscape(args[0])+"/reset-secret", nil, &out); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "%s has a new secret; it follows on standard output, shown only this once\n", args[0])
			_, err := fmt.Fprintln(g.stdout, out["secret"])
			return err
		},
	}
}

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage your API tokens"}
	addServerFlags(cmd.PersistentFlags())
	var (
		name, expires string
		gf            grantFlags
	)
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create an API token for yourself; prints it once",
		Example: "  cssc token create --name ci --expires 30d --role pull --scope 'golden/**'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exp, err := parseExpiry(expires, time.Now())
			if err != nil {
				return err
			}
			n := auth.NewToken{Name: name, Expires: exp}
			if gf.role != "" || len(gf.scopes) > 0 {
				if len(gf.scopes) != 1 {
					return errors.New("a token is narrowed to one --role on one --scope")
				}
				n.Role, n.Scope = auth.Role(gf.role), gf.scopes[0]
			}
			var t auth.Token
			if err := g.call(cmd, "POST", "/api/v1/tokens", n, &t); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "created API token %s (%s); it follows on standard output, shown only this once\n", t.ID, t.Name)
			_, err = fmt.Fprintln(g.stdout, t.Secret)
			return err
		},
	}
	create.Flags().StringVar(&name, "name", "token", "a name to recognise the token by")
	create.Flags().StringVar(&expires, "expires", "90d", "when the token stops working: 30d, 12h, an RFC 3339 time, or never")
	gf.add(create, "(narrows the token below your own grants)")
	var all bool
	list := &cobra.Command{
		Use: "list", Short: "List your API tokens (admins: --all)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Tokens []auth.Token `json:"tokens"`
			}
			path := "/api/v1/tokens"
			if all {
				path += "?all=true"
			}
			if err := g.call(cmd, "GET", path, nil, &out); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tOWNER\tNAME\tLIMIT\tEXPIRES\tSTATE")
			for _, t := range out.Tokens {
				state, exp, limit := "active", "never", "-"
				if !t.Expires.IsZero() {
					exp = t.Expires.Format(time.RFC3339)
					if time.Now().After(t.Expires) {
						state = "expired"
					}
				}
				if !t.Revoked.IsZero() {
					state = "revoked"
				}
				if t.Role != "" {
					limit = string(t.Role) + ":" + t.Scope
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Owner, t.Name, limit, exp, state)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&all, "all", false, "everyone's tokens (admin)")
	revoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke an API token; it stops working at once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.call(cmd, "DELETE", "/api/v1/tokens/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			_, err := fmt.Fprintf(g.stderr, "token %s revoked\n", args[0])
			return err
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func newLoginCmd(g *globals) *cobra.Command {
	var (
		username string
		pwdStdin bool
		expires  string
	)
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to a cssc server; saves an API token for later commands",
		Long: `Log in with a name and password (or a robot's secret): cssc creates an API
token for you and saves it (mode 0600) in $CSSC_LOGIN_FILE or
~/.config/cssc/logins.json; later commands against the same --server use it.
The password is read from --password-stdin or CSSC_PASSWORD, never from an
argument.`,
		Example: "  cssc login --server https://registry.example.com -u alice --password-stdin < pw.txt",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if username == "" {
				username = os.Getenv("CSSC_USERNAME")
			}
			if username == "" {
				return errors.New("give -u NAME (or CSSC_USERNAME)")
			}
			password := os.Getenv("CSSC_PASSWORD")
			if pwdStdin {
				var err error
				if password, err = readSecretStdin(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			if password == "" {
				return errors.New("give the password on standard input with --password-stdin (or CSSC_PASSWORD)")
			}
			exp, err := parseExpiry(expires, time.Now())
			if err != nil {
				return err
			}
			c, err := g.apiClient(cmd)
			if err != nil {
				return err
			}
			c.Creds = apiclient.Credentials{Username: username, Password: password}
			host, _ := os.Hostname()
			var t auth.Token
			if err := c.Do(cmd.Context(), "POST", "/api/v1/tokens", auth.NewToken{Name: "cssc login on " + host, Expires: exp}, &t); err != nil {
				return fmt.Errorf("log in to %s as %s: %w", c.Server, username, err)
			}
			l, err := readLogins()
			if err != nil {
				return err
			}
			l.Servers[c.Server] = savedLogin{Username: username, TokenID: t.ID, Token: t.Secret}
			p, err := writeLogins(l)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.stderr, "logged in to %s as %s (token %s saved in %s)\n", c.Server, username, t.ID, p)
			return err
		},
	}
	addServerFlags(cmd.Flags())
	cmd.Flags().StringVarP(&username, "username", "u", "", "user or robot name")
	cmd.Flags().BoolVar(&pwdStdin, "password-stdin", false, "read the password from standard input")
	cmd.Flags().StringVar(&expires, "expires", "30d", "how long the saved login lasts")
	return cmd
}

func newLogoutCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use: "logout", Short: "Revoke and forget the saved login for --server", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.apiClient(cmd)
			if err != nil {
				return err
			}
			l, err := readLogins()
			if err != nil {
				return err
			}
			saved, ok := l.Servers[c.Server]
			if !ok {
				return fmt.Errorf("not logged in to %s", c.Server)
			}
			c.Creds = apiclient.Credentials{Token: saved.Token}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if err := c.Do(ctx, "DELETE", "/api/v1/tokens/"+url.PathEscape(saved.TokenID), nil, nil); err != nil {
				fmt.Fprintf(g.stderr, "warning: could not revoke the saved token on the server: %v\n", err)
			}
			delete(l.Servers, c.Server)
			if _, err := writeLogins(l); err != nil {
				return err
			}
			_, err = fmt.Fprintf(g.stderr, "logged out of %s\n", c.Server)
			return err
		},
	}
	addServerFlags(cmd.Flags())
	return cmd
}
