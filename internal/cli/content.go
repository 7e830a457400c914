package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/cssc-project/cssc/internal/clamd"
	"github.com/cssc-project/cssc/internal/imagefs"
	"github.com/cssc-project/cssc/internal/layerscan"
	"github.com/cssc-project/cssc/internal/malware"
	"github.com/cssc-project/cssc/internal/secrets"
)

// DefaultClamd is Debian's clamd socket.
const DefaultClamd = "unix:///run/clamav/clamd.ctl"

// contentFlags select the scanners of cssc scan and set up the malware
// and secret scans.
type contentFlags struct {
	vulns, malware, secrets, all bool

	clamdAddr   string
	maxAge      ageValue
	fileTimeout time.Duration
	workers     int

	secretsConfig    string
	secretsAllowlist string
	secretsMaxSize   int64
}

func (c *contentFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&c.vulns, "vulns", false, "scan for known vulnerabilities (the default when no scanner is chosen)")
	fs.BoolVar(&c.malware, "malware", false, "scan every file of every layer for malware with clamd")
	fs.BoolVar(&c.secrets, "secrets", false, "scan layer files and the image configuration for secrets (credentials, keys, tokens)")
	fs.BoolVar(&c.all, "all", false, "scan for vulnerabilities, malware and secrets")
	fs.StringVar(&c.clamdAddr, "clamd", DefaultClamd, "clamd's socket: unix:///path/to/clamd.sock or tcp://HOST:PORT")
	c.maxAge = ageValue(malware.DefaultMaxDatabaseAge)
	fs.Var(&c.maxAge, "clamd-max-age", "a signature database older than this is an error, e.g. 7d or 36h (0 turns the check off)")
	fs.DurationVar(&c.fileTimeout, "clamd-timeout", layerscan.DefaultFileTimeout, "time allowed for clamd to take and scan one file")
	fs.IntVar(&c.workers, "clamd-workers", layerscan.DefaultWorkers, "files scanned at once (keep at or below clamd's MaxThreads)")
	fs.StringVar(&c.secretsConfig, "secrets-config", "", "gitleaks configuration (TOML) replacing the built-in rules; [extend] useDefault = true adds to them")
	fs.StringVar(&c.secretsAllowlist, "secrets-allowlist", "", "YAML allowlist of known false positives (by path, rule or fingerprint, each with a reason)")
	fs.Int64Var(&c.secretsMaxSize, "secrets-max-size", secrets.DefaultMaxFileSize, "largest file, in bytes, scanned for secrets")
}

// resolve applies --all and the default (vulnerabilities only).
func (c *contentFlags) resolve() {
	if c.all {
		c.vulns, c.malware, c.secrets = true, true, true
	}
	if !c.vulns && !c.malware && !c.secrets {
		c.vulns = true
	}
}

// maxSecretsSize bounds --secrets-max-size: files up to it are held in
// memory, several at a time.
const maxSecretsSize = 16 << 20

// options checks the settings and builds the layer scan's options.
func (c *contentFlags) options(g *globals, lim imagefs.Limits) (layerscan.Options, error) {
	opts := layerscan.Options{Limits: lim, Log: g.log, FileTimeout: c.fileTimeout, Workers: c.workers}
	if c.workers < 1 || c.workers > 64 {
		return opts, fmt.Errorf("--clamd-workers %d: want 1 to 64", c.workers)
	}
	if c.fileTimeout <= 0 {
		return opts, fmt.Errorf("--clamd-timeout %s: want a positive duration", c.fileTimeout)
	}
	if c.malware {
		cl, err := clamd.New(c.clamdAddr)
		if err != nil {
			return opts, fmt.Errorf("--clamd: %w", err)
		}
		opts.Clamd = cl
		opts.MaxDatabaseAge = time.Duration(c.maxAge)
		if opts.MaxDatabaseAge == 0 {
			opts.MaxDatabaseAge = -1 // 0 turns the check off
		}
	}
	if c.secrets {
		if c.secretsMaxSize < 1 || c.secretsMaxSize > maxSecretsSize {
			return opts, fmt.Errorf("--secrets-max-size %d: want 1 to %d bytes", c.secretsMaxSize, maxSecretsSize)
		}
		d, err := secrets.New(secrets.Options{ConfigFile: c.secretsConfig, AllowlistFile: c.secretsAllowlist, MaxFileSize: c.secretsMaxSize})
		if err != nil {
			return opts, err
		}
		opts.Secrets = d
	} else if c.secretsConfig != "" || c.secretsAllowlist != "" {
		return opts, fmt.Errorf("--secrets-config and --secrets-allowlist need --secrets (or --all)")
	}
	return opts, nil
}

// ageValue is a duration flag that also takes days ("7d").
type ageValue time.Duration

func (a *ageValue) String() string {
	d := time.Duration(*a)
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

func (a *ageValue) Set(s string) error {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("want a number of days (7d) or a duration (36h): %q", s)
		}
		*a = ageValue(time.Duration(n * float64(24*time.Hour)))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("want a number of days (7d) or a duration (36h): %q", s)
	}
	*a = ageValue(d)
	return nil
}

func (a *ageValue) Type() string { return "age" }
