package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cssc-project/cssc/internal/acquire"
	"github.com/cssc-project/cssc/internal/apiclient"
	"github.com/cssc-project/cssc/internal/policy"
	"github.com/cssc-project/cssc/internal/sign"
	"github.com/cssc-project/cssc/internal/upstream"
)

func newAcquireCmd(g *globals) *cobra.Command {
	var (
		req      acquire.Request
		allTags  bool
		match    string
		wait     bool
		format   string
		interval time.Duration
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "acquire UPSTREAM-REFERENCE",
		Short: "Bring an upstream image through the acquire pipeline into golden/",
		Long: `Submit an acquisition to a running cssc serve: the image is copied from an
allow-listed upstream into quarantine/<name>, its upstream signatures and
metadata are verified, it is analysed (SBOM, vulnerabilities, malware,
secrets), scored and decided on by policy; only when it passes is it
enriched (SBOMs, reports, attestations, lifecycle), signed with the
enterprise key and promoted to golden/<name> with the same digest and tag.

Without --as, the name is the upstream repository path without its
registry: docker.io/library/nginx:1.27 becomes quarantine/library/nginx:1.27,
then golden/library/nginx:1.27.

With --wait the command follows the acquisition: a progress bar for the
copy, then one line per step. Exit codes with --wait: 0 promoted, 1
blocked, 2 failed or error. Without --wait it prints the acquisition's id.`,
		Example: `  cssc acquire docker.io/library/nginx:1.27 --wait
  cssc acquire docker.io/library/nginx:1.27 --as web/nginx --platform linux/amd64 --wait --format json
  cssc acquire --all-tags docker.io/library/alpine --match '^3\.2[0-9]$'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format %q: want text or json", format)
			}
			if match != "" && !allTags {
				return errors.New("--match needs --all-tags")
			}
			c, err := g.apiClient(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			req.Source = args[0]
			body := map[string]any{"source": req.Source, "as": req.As, "platform": req.Platform}
			var ids []string
			partial := false
			if allTags {
				body["all_tags"], body["match"] = true, match
				var out struct {
					Acquisitions []acquire.Record `json:"acquisitions"`
					Skipped      []string         `json:"skipped_tags"`
					Error        string           `json:"error"`
				}
				if err := c.Do(ctx, "POST", "/api/v1/acquisitions", body, &out); err != nil {
					return fmt.Errorf("acquire %s: %w", req.Source, err)
				}
				for _, r := range out.Acquisitions {
					ids = append(ids, r.ID)
					fmt.Fprintf(g.stderr, "queued %s  %s\n", r.ID, r.Source)
				}
				if len(out.Skipped) > 0 {
					fmt.Fprintf(g.stderr, "tags not matching %q (not acquired): %s\n", match, strings.Join(out.Skipped, ", "))
				}
				if out.Error != "" {
					// Those queued run; the rest were not submitted.
					defer func() { fmt.Fprintf(g.stderr, "not every tag was submitted: %s\n", out.Error) }()
					partial = true
				}
			} else {
				var rec acquire.Record
				if err := c.Do(ctx, "POST", "/api/v1/acquisitions", body, &rec); err != nil {
					return fmt.Errorf("acquire %s: %w", req.Source, err)
				}
				ids = append(ids, rec.ID)
				if !wait || format == "text" {
					fmt.Fprintf(g.stderr, "queued acquisition %s: %s → quarantine/%s\n", rec.ID, rec.Source, rec.Name)
				}
			}
			if !wait {
				for _, id := range ids {
					fmt.Fprintln(g.stdout, id)
				}
				if partial {
					return &exitError{2, errors.New("not every tag was submitted")}
				}
				return nil
			}
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			worst := 0
			for _, id := range ids {
				rec, err := follow(ctx, c, id, interval, format == "text", g.stderr)
				if err != nil {
					return &exitError{2, err}
				}
				if format == "json" {
					if err := json.NewEncoder(g.stdout).Encode(rec); err != nil {
						return err
					}
				} else {
					printOutcome(g.stdout, rec)
				}
				worst = max(worst, outcomeCode(rec.State))
			}
			if worst > 0 {
				return &exitError{worst, fmt.Errorf("%s", outcomeWord(worst))}
			}
			if partial {
				return &exitError{2, errors.New("not every tag was submitted")}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.As, "as", "", "internal name (default: the upstream repository path)")
	f.StringVar(&req.Platform, "platform", "all", "all, or one platform of an index (os/arch[/variant])")
	f.BoolVar(&allTags, "all-tags", false, "acquire every tag of the repository matching --match")
	f.StringVar(&match, "match", "", "with --all-tags: regular expression the tags must match")
	f.BoolVar(&wait, "wait", false, "follow the acquisition until it ends")
	f.StringVarP(&format, "format", "o", "text", "with --wait: text or json (the final acquisition record)")
	f.DurationVar(&interval, "poll", 500*time.Millisecond, "with --wait: how often to ask the server")
	f.DurationVar(&timeout, "timeout", 0, "with --wait: give up after this long (0: never)")
	addServerFlags(cmd.PersistentFlags())
	return cmd
}

func outcomeCode(s acquire.State) int {
	switch s {
	case acquire.StatePromoted:
		return 0
	case acquire.StateBlocked:
		return 1
	}
	return 2
}

func outcomeWord(code int) string {
	if code == 1 {
		return "blocked by policy"
	}
	return "acquisition failed"
}

// follow polls an acquisition until it ends, drawing the copy's progress
// and a line per finished step on w when live.
func follow(ctx context.Context, c *apiclient.Client, id string, interval time.Duration, live bool, w io.Writer) (*acquire.Record, error) {
	shown := 0
	bar := false
	var unreachableSince time.Time
	for {
		var rec acquire.Record
		if err := c.Do(ctx, "GET", "/api/v1/acquisitions/"+url.PathEscape(id), nil, &rec); err != nil {
			// A server that restarts resumes the acquisition: keep asking
			// for a while rather than give up on it.
			if !serverGone(err) || ctx.Err() != nil {
				return nil, fmt.Errorf("follow acquisition %s: %w", id, err)
			}
			if unreachableSince.IsZero() {
				unreachableSince = time.Now()
				if live {
					fmt.Fprintf(w, "  (the server does not answer: %v; still asking)\n", err)
				}
			}
			if time.Since(unreachableSince) > followGrace {
				return nil, fmt.Errorf("follow acquisition %s: the server has not answered for %s: %w (it resumes the acquisition when it is back: cssc acquisitions show %s)", id, followGrace, err, id)
			}
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("follow acquisition %s: %w", id, ctx.Err())
			case <-time.After(interval):
			}
			continue
		}
		unreachableSince = time.Time{}
		if live {
			if rec.Step == acquire.StepImport && rec.Progress.BytesTotal > 0 && shown == 0 {
				fmt.Fprintf(w, "\r%s", progressBar(rec.Progress))
				bar = true
			}
			for ; shown < len(rec.Steps); shown++ {
				if bar {
					fmt.Fprintf(w, "\r%s\n", progressBar(acquire.Progress{BytesDone: rec.Progress.BytesTotal, BytesTotal: rec.Progress.BytesTotal}))
					bar = false
				}
				s := rec.Steps[shown]
				fmt.Fprintf(w, "  %-18s %-12s %s\n", s.Step, s.Outcome, s.Detail)
			}
			if rec.Error != "" && !rec.State.Final() {
				fmt.Fprintf(w, "  (retrying, attempt %d: %s)\n", rec.Attempts, rec.Error)
			}
		}
		if rec.State.Final() {
			return &rec, nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("follow acquisition %s: %w (it goes on on the server: cssc acquisitions show %s)", id, ctx.Err(), id)
		case <-t.C:
		}
	}
}

// followGrace is how long --wait keeps asking a server that does not
// answer (a restart).
const followGrace = 2 * time.Minute

// serverGone reports an error a restarting server gives: no connection,
// or a 5xx while it comes up.
func serverGone(err error) bool {
	var apiErr *apiclient.Error
	if errors.As(err, &apiErr) {
		return apiErr.Status >= 500
	}
	var netErr net.Error
	var urlErr *url.Error
	return errors.As(err, &netErr) || errors.As(err, &urlErr)
}

func progressBar(p acquire.Progress) string {
	const width = 30
	frac := 0.0
	if p.BytesTotal > 0 {
		frac = min(float64(p.BytesDone)/float64(p.BytesTotal), 1)
	}
	n := int(frac * width)
	return fmt.Sprintf("  copy [%s%s] %s / %s", strings.Repeat("=", n), strings.Repeat(" ", width-n), humanBytes(p.BytesDone), humanBytes(p.BytesTotal))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func printOutcome(w io.Writer, rec *acquire.Record) {
	score := "-"
	if rec.RiskScore != nil {
		score = fmt.Sprint(*rec.RiskScore)
	}
	attached, signatures := 0, 0
	for _, r := range rec.Referrers {
		if r.Kind == acquire.KindSignature {
			signatures++
		} else {
			attached++
		}
	}
	switch rec.State {
	case acquire.StatePromoted:
		fmt.Fprintf(w, "PROMOTED %s → %s (risk %s; %d artifacts attached, %d signatures by the enterprise key)\n", rec.Source, rec.GoldenRef, score, attached, signatures)
	case acquire.StateBlocked:
		fmt.Fprintf(w, "BLOCKED %s: stays in %s (risk %s)\n", rec.Source, rec.QuarantineRef, score)
	default:
		fmt.Fprintf(w, "FAILED %s\n", rec.Source)
	}
	for _, r := range rec.Reasons {
		fmt.Fprintf(w, "  - %s\n", r)
	}
	for _, r := range rec.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", r)
	}
	if rec.SameAs != "" {
		fmt.Fprintf(w, "  (same digest, policy and data as acquisition %s: nothing done again)\n", rec.SameAs)
	}
}

func newAcquisitionsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "acquisitions", Short: "List, show and retry acquisitions"}
	addServerFlags(cmd.PersistentFlags())
	var state, format string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List acquisitions, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if state != "" {
				q.Set("state", state)
			}
			q.Set("limit", fmt.Sprint(limit))
			var out struct {
				Acquisitions []acquire.Record `json:"acquisitions"`
			}
			if err := g.call(cmd, "GET", "/api/v1/acquisitions?"+q.Encode(), nil, &out); err != nil {
				return fmt.Errorf("list acquisitions: %w", err)
			}
			if format == "json" {
				return json.NewEncoder(g.stdout).Encode(out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tSTEP\tRISK\tSOURCE\tREASON")
			for _, r := range out.Acquisitions {
				score := "-"
				if r.RiskScore != nil {
					score = fmt.Sprint(*r.RiskScore)
				}
				reason := ""
				if len(r.Reasons) > 0 {
					reason = r.Reasons[0]
					if len(r.Reasons) > 1 {
						reason += fmt.Sprintf(" (+%d)", len(r.Reasons)-1)
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.State, r.Step, score, r.Source, reason)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&state, "state", "", "only this state: queued, running, promoted, blocked or failed")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many")
	list.Flags().StringVarP(&format, "format", "o", "text", "text or json")
	var showFormat string
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show an acquisition: steps, reasons, risk breakdown, attached artifacts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var rec acquire.Record
			if err := g.call(cmd, "GET", "/api/v1/acquisitions/"+url.PathEscape(args[0]), nil, &rec); err != nil {
				return fmt.Errorf("show acquisition %s: %w", args[0], err)
			}
			if showFormat == "json" {
				return json.NewEncoder(g.stdout).Encode(rec)
			}
			printRecord(g.stdout, &rec)
			return nil
		},
	}
	show.Flags().StringVarP(&showFormat, "format", "o", "text", "text or json")
	retry := &cobra.Command{
		Use:   "retry ID",
		Short: "Run a failed acquisition again from the step that failed, or decide a blocked one again",
		Long: `Queue a failed acquisition again from the step where it failed, or a blocked
one again from its upstream signature check: signatures, analysis, score
and decision are done again (after an exception was added, trust material
or the policy changed, or a scanner that was down is back), without copying
the image again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var rec acquire.Record
			if err := g.call(cmd, "POST", "/api/v1/acquisitions/"+url.PathEscape(args[0])+"/retry", nil, &rec); err != nil {
				return fmt.Errorf("retry acquisition %s: %w", args[0], err)
			}
			fmt.Fprintf(g.stderr, "acquisition %s queued again from %s\n", rec.ID, rec.Step)
			return nil
		},
	}
	cmd.AddCommand(list, show, retry)
	return cmd
}

func printRecord(w io.Writer, r *acquire.Record) {
	fmt.Fprintf(w, "Acquisition %s: %s\n", r.ID, strings.ToUpper(string(r.State)))
	fmt.Fprintf(w, "  source:      %s", r.Source)
	if r.UpstreamDigest != "" {
		fmt.Fprintf(w, " (%s)", r.UpstreamDigest)
	}
	fmt.Fprintln(w)
	if r.Upstream != "" {
		fmt.Fprintf(w, "  upstream:    %s\n", r.Upstream)
	}
	if r.QuarantineRef != "" {
		fmt.Fprintf(w, "  quarantine:  %s\n", r.QuarantineRef)
	}
	if r.GoldenRef != "" {
		fmt.Fprintf(w, "  golden:      %s\n", r.GoldenRef)
	}
	if r.Signatures != nil {
		fmt.Fprintf(w, "  upstream signatures (%s): %s\n", r.Signatures.Policy, r.Signatures.Detail)
	}
	if r.RiskScore != nil {
		fmt.Fprintf(w, "  risk score:  %d\n", *r.RiskScore)
		for _, pr := range r.Risk {
			label := pr.Platform
			if label == "" {
				label = pr.Digest
			}
			fmt.Fprintf(w, "    %s: %d (%s, %s)\n", label, pr.Score, pr.Level, pr.Version)
			for _, l := range pr.Lines {
				if l.Points != 0 {
					fmt.Fprintf(w, "      %+4d  %-22s %s\n", l.Points, l.Name, l.Detail)
				}
			}
		}
	}
	if len(r.Reasons) > 0 {
		fmt.Fprintln(w, "  reasons:")
		for _, s := range r.Reasons {
			fmt.Fprintf(w, "    - %s\n", s)
		}
	}
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", s)
	}
	if r.Error != "" && !r.State.Final() {
		fmt.Fprintf(w, "  last error (attempt %d): %s\n", r.Attempts, r.Error)
	}
	fmt.Fprintln(w, "  steps:")
	for _, s := range r.Steps {
		fmt.Fprintf(w, "    %-18s %-12s %6s  %s\n", s.Step, s.Outcome, s.Finished.Sub(s.Started).Round(time.Millisecond), s.Detail)
	}
	if !r.State.Final() && r.Step != "" {
		fmt.Fprintf(w, "    %-18s (next)\n", r.Step)
	}
	if len(r.Referrers) > 0 {
		fmt.Fprintln(w, "  attached:")
		for _, ref := range r.Referrers {
			fmt.Fprintf(w, "    %-15s %s  on %s  (%s)\n", ref.Kind, sign.ShortDigest(ref.Digest), sign.ShortDigest(ref.Subject), ref.ArtifactType)
		}
	}
}

func newUpstreamCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upstream",
		Short: "Manage the allow-listed upstream registries images may be acquired from",
	}
	addServerFlags(cmd.PersistentFlags())
	var (
		u         upstream.Upstream
		passEnv   string
		caFile    string
		repos     []string
		insecure  string
		listAsJSN string
	)
	add := &cobra.Command{
		Use:   "add NAME --registry HOST --repository GLOB…",
		Short: "Allow an upstream registry (or replace the entry of that name)",
		Long: `Allow acquisitions from the repositories of a registry that match the globs
("*" is one path segment, "**" any number). Credentials are sent to the
server and stored encrypted; the password is read from the environment
variable --password-env names, never from the command line.`,
		Example: `  cssc upstream add dockerhub --registry docker.io --repository 'library/*' --signature-policy if-present
  CSSC_UPSTREAM_PASSWORD=… cssc upstream add internal --registry registry.example:5000 --repository 'base/**' \
      --username robot --password-env CSSC_UPSTREAM_PASSWORD --ca-file ca.pem --rate-limit 5 --signature-policy required --cosign-key upstream.pub`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u.Name, u.Repositories = args[0], repos
			switch insecure {
			case "auto":
				u.Insecure = upstream.DefaultInsecure(upstream.NormalizeRegistry(u.Registry))
			case "true":
				u.Insecure = true
			case "false":
				u.Insecure = false
			default:
				return fmt.Errorf("--insecure %q: want auto, true or false", insecure)
			}
			body := map[string]any{}
			if caFile != "" {
				b, err := os.ReadFile(caFile)
				if err != nil {
					return fmt.Errorf("--ca-file: %w", err)
				}
				u.CABundle = string(b)
			}
			raw, err := json.Marshal(u)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(raw, &body); err != nil {
				return err
			}
			delete(body, "createdAt")
			if passEnv != "" {
				pw, ok := os.LookupEnv(passEnv)
				if !ok || pw == "" {
					return fmt.Errorf("--password-env %s: the variable is not set", passEnv)
				}
				body["password"] = pw
			}
			var out upstream.Upstream
			if err := g.call(cmd, "POST", "/api/v1/upstreams", body, &out); err != nil {
				return fmt.Errorf("add upstream %s: %w", u.Name, err)
			}
			fmt.Fprintf(g.stderr, "upstream %s allows %s/{%s} (signatures: %s)\n", out.Name, out.Registry, strings.Join(out.Repositories, ","), out.SignaturePolicy)
			return nil
		},
	}
	af := add.Flags()
	af.StringVar(&u.Registry, "registry", "", "registry host[:port] (docker.io for Docker Hub)")
	af.StringArrayVar(&repos, "repository", nil, "repository glob allowed (repeatable)")
	af.StringVar(&u.SignaturePolicy, "signature-policy", upstream.SignatureIfPresent, "upstream signatures: required, if-present or skip")
	af.StringVar(&u.NotationPolicy, "notation-policy", "", "Notary Project trust policy file on the server")
	af.StringVar(&u.NotationTrustStore, "notation-trust-store", "", "Notary Project trust store directory on the server")
	af.StringVar(&u.CosignKey, "cosign-key", "", "cosign public key file on the server")
	af.StringVar(&u.SigstoreTrustedRoot, "sigstore-trusted-root", "", "Sigstore trusted_root.json on the server")
	af.StringVar(&u.CertificateIdentity, "certificate-identity", "", "keyless: the signer identity required")
	af.StringVar(&u.CertificateIdentityRegexp, "certificate-identity-regexp", "", "keyless: a regular expression the identity must match")
	af.StringVar(&u.CertificateOIDCIssuer, "certificate-oidc-issuer", "", "keyless: the OIDC issuer required")
	af.StringVar(&u.CertificateOIDCIssuerRegexp, "certificate-oidc-issuer-regexp", "", "keyless: a regular expression the issuer must match")
	af.StringVar(&u.Username, "username", "", "registry user name")
	af.StringVar(&passEnv, "password-env", "", "environment variable holding the registry password")
	af.StringVar(&caFile, "ca-file", "", "PEM file of extra CAs for the registry's TLS")
	af.StringVar(&u.Proxy, "proxy", "", "HTTP(S) proxy URL to reach the registry")
	af.StringVar(&insecure, "insecure", "auto", "plain HTTP: auto (only for loopback hosts), true or false")
	af.Float64Var(&u.RateLimit, "rate-limit", 0, "requests per second to the registry (0: unlimited; 429 and Retry-After are always honoured)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the allow-listed upstreams",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Upstreams  []upstream.Upstream `json:"upstreams"`
				Configured []upstream.Upstream `json:"configured"`
			}
			if err := g.call(cmd, "GET", "/api/v1/upstreams", nil, &out); err != nil {
				return fmt.Errorf("list upstreams: %w", err)
			}
			if listAsJSN == "json" {
				return json.NewEncoder(g.stdout).Encode(out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tREGISTRY\tREPOSITORIES\tSIGNATURES\tCREDENTIALS\tSOURCE")
			for _, set := range []struct {
				list []upstream.Upstream
				src  string
			}{{out.Upstreams, "cssc upstream add"}, {out.Configured, "--upstream-allow"}} {
				for _, u := range set.list {
					cred := "-"
					if u.Username != "" {
						cred = u.Username + " (encrypted)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Registry, strings.Join(u.Repositories, ","), u.SignaturePolicy, cred, set.src)
				}
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVarP(&listAsJSN, "format", "o", "text", "text or json")
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove an upstream from the allow-list (golden images stay)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.call(cmd, "DELETE", "/api/v1/upstreams/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return fmt.Errorf("remove upstream %s: %w", args[0], err)
			}
			fmt.Fprintf(g.stderr, "upstream %s removed\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

func newExceptionCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exception",
		Short: "Accept a vulnerability's risk for an image, with reason, approver and expiry (OpenVEX)",
	}
	addServerFlags(cmd.PersistentFlags())
	var (
		req     policy.ExceptionRequest
		expires string
	)
	add := &cobra.Command{
		Use:   "add VULNERABILITY-ID --image REPOSITORY|DIGEST --reason TEXT --approver WHO --expires 30d",
		Short: "Add an exception (it lapses on its own at its expiry)",
		Long: `Record that a vulnerability does not block an image, until the expiry. The
exception is kept as an OpenVEX statement (status not_affected, the reason
as impact statement, approver and expiry in a "cssc" extension) and
applies to every decision after it; a blocked acquisition can be decided
again with cssc acquisitions retry.`,
		Example: `  cssc exception add CVE-2024-1234 --image library/nginx --reason "not reachable: we do not use HTTP/3" --approver alice@example.com --expires 30d`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Vulnerability = args[0]
			exp, err := parseExpiry(expires, time.Now())
			if err != nil {
				return err
			}
			req.Expires = exp
			var out struct {
				ID string `json:"id"`
			}
			if err := g.call(cmd, "POST", "/api/v1/exceptions", req, &out); err != nil {
				return fmt.Errorf("add exception: %w", err)
			}
			fmt.Fprintf(g.stderr, "exception %s: %s on %s until %s\n", out.ID, req.Vulnerability, req.Image, exp.UTC().Format(time.RFC3339))
			fmt.Fprintln(g.stdout, out.ID)
			return nil
		},
	}
	af := add.Flags()
	af.StringVar(&req.Image, "image", "", "repository (library/nginx) or digest (sha256:…) it applies to")
	af.StringVar(&req.Reason, "reason", "", "why the risk is accepted")
	af.StringVar(&req.Approver, "approver", "", "who approved it")
	af.StringVar(&expires, "expires", "30d", "when it lapses: a duration (30d, 12h) or a date (2026-12-31 or RFC 3339)")
	var all bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the exceptions in force (--all: with the expired ones)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/api/v1/exceptions"
			if all {
				path += "?all=1"
			}
			var out struct {
				Exceptions []struct {
					ID         string             `json:"id"`
					CreatedBy  string             `json:"created_by"`
					ExpiresAt  time.Time          `json:"expires_at"`
					Exceptions []policy.Exception `json:"exceptions"`
				} `json:"exceptions"`
			}
			if err := g.call(cmd, "GET", path, nil, &out); err != nil {
				return fmt.Errorf("list exceptions: %w", err)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tVULNERABILITY\tIMAGE\tEXPIRES\tAPPROVER\tREASON")
			for _, e := range out.Exceptions {
				for _, x := range e.Exceptions {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, x.Vulnerability, strings.Join(x.Products, ","), x.Expires.Format("2006-01-02 15:04"), x.Approver, x.Reason)
				}
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&all, "all", false, "also the expired ones")
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Withdraw an exception",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.call(cmd, "DELETE", "/api/v1/exceptions/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return fmt.Errorf("remove exception %s: %w", args[0], err)
			}
			fmt.Fprintf(g.stderr, "exception %s removed\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

func newSyncCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Re-acquire an upstream repository's tags on a schedule (new or moved tags start acquisitions)",
	}
	addServerFlags(cmd.PersistentFlags())
	var rule struct {
		Match, As, Platform string
		Interval            time.Duration
	}
	add := &cobra.Command{
		Use:   "add UPSTREAM-REPOSITORY --match REGEXP --interval 6h",
		Short: "Add a sync rule (its first run is at once)",
		Long: `Every --interval, the tags of the upstream repository that --match matches are
resolved; each tag that is new, or has moved to another digest, starts an
acquisition. An upstream that is down, throttles or deletes a tag changes
nothing in golden/: the error is kept on the rule and it runs again at its
next time.`,
		Example: `  cssc sync add docker.io/library/alpine --match '^3\.2[0-9]$' --interval 6h`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{"source": args[0], "match": rule.Match, "interval": rule.Interval.String(), "as": rule.As, "platform": rule.Platform}
			var out acquire.SyncRule
			if err := g.call(cmd, "POST", "/api/v1/sync-rules", body, &out); err != nil {
				return fmt.Errorf("add sync rule: %w", err)
			}
			fmt.Fprintf(g.stderr, "sync rule %s: %s tags matching %q every %s\n", out.ID, out.Source, out.Match, time.Duration(out.Interval))
			fmt.Fprintln(g.stdout, out.ID)
			return nil
		},
	}
	af := add.Flags()
	af.StringVar(&rule.Match, "match", "", "regular expression the tags must match (empty: every tag)")
	af.DurationVar(&rule.Interval, "interval", 6*time.Hour, "how often to look (at least 1m)")
	af.StringVar(&rule.As, "as", "", "internal name for every tag (default: the upstream repository path)")
	af.StringVar(&rule.Platform, "platform", "all", "all, or one platform")
	var format string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the sync rules, their last run and error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Rules []acquire.SyncRule `json:"sync_rules"`
			}
			if err := g.call(cmd, "GET", "/api/v1/sync-rules", nil, &out); err != nil {
				return fmt.Errorf("list sync rules: %w", err)
			}
			if format == "json" {
				return json.NewEncoder(g.stdout).Encode(out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSOURCE\tMATCH\tEVERY\tTAGS\tLAST RUN\tNEXT RUN\tLAST ERROR")
			for _, r := range out.Rules {
				last := "-"
				if !r.LastRun.IsZero() {
					last = r.LastRun.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Source, r.Match, time.Duration(r.Interval), len(r.Seen), last, r.NextRun.Format(time.RFC3339), r.LastError)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVarP(&format, "format", "o", "text", "text or json")
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a sync rule (what it acquired stays)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.call(cmd, "DELETE", "/api/v1/sync-rules/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return fmt.Errorf("remove sync rule %s: %w", args[0], err)
			}
			fmt.Fprintf(g.stderr, "sync rule %s removed\n", args[0])
			return nil
		},
	}
	runNow := &cobra.Command{
		Use:   "run ID",
		Short: "Run a sync rule now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out acquire.SyncRule
			if err := g.call(cmd, "POST", "/api/v1/sync-rules/"+url.PathEscape(args[0])+"/run", nil, &out); err != nil {
				return fmt.Errorf("run sync rule %s: %w", args[0], err)
			}
			fmt.Fprintf(g.stderr, "sync rule %s: %d matching tags, %d acquisitions started\n", out.ID, len(out.Seen), len(out.LastStarted))
			if out.LastError != "" {
				fmt.Fprintf(g.stderr, "  error: %s\n", out.LastError)
			}
			for _, id := range out.LastStarted {
				fmt.Fprintln(g.stdout, id)
			}
			return nil
		},
	}
	cmd.AddCommand(add, list, remove, runNow)
	return cmd
}

func newRescanCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "rescan",
		Short: "Decide again on every golden image with the current vulnerability data and policy (no download)",
		Long: `Re-match the SBOMs stored at acquisition against the current vulnerability
database, recompute the risk scores and decide again with the current
policy and exceptions. Images that no longer pass are flagged (and taken
out of golden/ when the policy's demote rule says so; data
{"cssc": {"demote_on_failure": true}} in the default policy). The server
also does this on its own when the database changes.
Exit codes: 0 every image passes, 1 some are flagged, 2 error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rep acquire.RescanReport
			if err := g.call(cmd, "POST", "/api/v1/rescan", nil, &rep); err != nil {
				return fmt.Errorf("rescan: %w", err)
			}
			if format == "json" {
				if err := json.NewEncoder(g.stdout).Encode(rep); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "IMAGE\tRISK\tRESULT\tREASONS")
				for _, im := range rep.Images {
					result := "passes"
					switch {
					case im.Error != "":
						result = "error: " + im.Error
					case im.Demoted:
						result = "DEMOTED"
					case !im.Passed:
						result = "FLAGGED"
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", im.Image, im.RiskScore, result, strings.Join(im.Reasons, "; "))
				}
				_ = tw.Flush()
				fmt.Fprintf(g.stderr, "%d golden images rescanned on data %s: %d flagged, %d demoted\n", len(rep.Images), rep.DataVersion, rep.Flagged, rep.Demoted)
			}
			if rep.Flagged > 0 {
				return &exitError{1, fmt.Errorf("%d golden images no longer pass", rep.Flagged)}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "o", "text", "text or json")
	addServerFlags(cmd.PersistentFlags())
	return cmd
}

func newGoldenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "golden", Short: "Manage golden versions: end of life and retirement"}
	addServerFlags(cmd.PersistentFlags())
	var eol string
	var grace time.Duration
	retire := &cobra.Command{
		Use:   "retire golden/NAME:TAG [--eol DATE] [--grace 720h]",
		Short: "Set a golden image's end of life; it leaves golden/ a grace period later",
		Long: `Set or move the end-of-life date of a golden image: its lifecycle artifact
(application/vnd.microsoft.artifact.lifecycle) is replaced by one with the
new date, signed with the enterprise key, so the deploy gate and the run
inventory see it. After the grace period the image leaves golden/ (it stays
in quarantine/, and the audit trail records it). Golden tags are otherwise
immutable: only a new acquisition moves one.`,
		Example: `  cssc golden retire golden/library/nginx:1.25 --eol 2026-12-31 --grace 720h
  cssc golden retire golden/library/nginx:1.24            # end of life now, removed in 30 days`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{"image": args[0], "grace": grace.String()}
			if eol != "" {
				t, err := time.Parse("2006-01-02", eol)
				if err != nil {
					if t, err = time.Parse(time.RFC3339, eol); err != nil {
						return fmt.Errorf("--eol %q: want a date (2026-12-31) or an RFC 3339 time", eol)
					}
				}
				body["eol"] = t.UTC().Format(time.RFC3339)
			}
			var out acquire.Retirement
			if err := g.call(cmd, "POST", "/api/v1/golden/retire", body, &out); err != nil {
				return fmt.Errorf("retire %s: %w", args[0], err)
			}
			fmt.Fprintf(g.stdout, "%s (%s): end of life %s; leaves golden/ after %s\n", out.Image, sign.ShortDigest(out.Digest),
				out.EndOfLife.Format(time.RFC3339), out.RemoveAfter.Format(time.RFC3339))
			return nil
		},
	}
	retire.Flags().StringVar(&eol, "eol", "", "end-of-life date (default: now)")
	retire.Flags().DurationVar(&grace, "grace", 30*24*time.Hour, "how long after the end of life the image stays in golden/")
	list := &cobra.Command{
		Use:   "retirements",
		Short: "List retired golden images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out struct {
				Retirements []acquire.Retirement `json:"retirements"`
			}
			if err := g.call(cmd, "GET", "/api/v1/golden/retirements", nil, &out); err != nil {
				return fmt.Errorf("list retirements: %w", err)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tEND OF LIFE\tREMOVE AFTER\tREMOVED\tBY")
			for _, r := range out.Retirements {
				removed := "-"
				if !r.RemovedAt.IsZero() {
					removed = r.RemovedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Image, r.EndOfLife.Format(time.RFC3339), r.RemoveAfter.Format(time.RFC3339), removed, r.RetiredBy)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(retire, list)
	return cmd
}
