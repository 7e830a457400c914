package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// signing generates an enterprise key, signs ref in the Notary Project
// (JWS) and cosign formats, verifies both against a trust policy and the
// public key, and shows a verification that fails, with its reason: ref2,
// signed by another key.
func signing(ctx context.Context, bin, ref, ref2, work string) error {
	dir := filepath.Join(work, "signing")
	env := append(os.Environ(), "CSSC_KEY_PASSPHRASE=demo passphrase", "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, append(args, "--log-level", "warn")...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil {
			err = fmt.Errorf("cssc %s: %w: %s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String(), err
	}
	keyDir := filepath.Join(dir, "keys")
	var outs []string
	for _, args := range [][]string{
		{"key", "generate", "--name", "enterprise", "--key-dir", keyDir},
		{"key", "generate", "--name", "intruder", "--key-dir", keyDir},
		{"sign", ref, "--key", "enterprise", "--key-dir", keyDir, "--annotation", "stage=demo"},
		{"sign", ref, "--key", "enterprise", "--key-dir", keyDir, "--format", "cosign"},
		{"sign", ref2, "--key", "intruder", "--key-dir", keyDir},
	} {
		out, err := run(args...)
		if err != nil {
			return err
		}
		outs = append(outs, strings.TrimSpace(out))
	}
	step("cssc key generate (a CA and a code-signing certificate, key encrypted at rest); cssc sign in two formats:\n%s", indent(strings.Join(outs[2:4], "\n")+"\n"))

	ca, err := run("key", "export", "--name", "enterprise", "--cert", "--key-dir", keyDir)
	if err != nil {
		return err
	}
	pub, err := run("key", "export", "--name", "enterprise", "--public", "--key-dir", keyDir)
	if err != nil {
		return err
	}
	policy := `{"version":"1.0","trustPolicies":[{"name":"enterprise-only","registryScopes":["*"],` +
		`"signatureVerification":{"level":"strict"},"trustStores":["ca:enterprise"],"trustedIdentities":["*"]}]}`
	files := map[string]string{
		filepath.Join(dir, "truststore", "x509", "ca", "enterprise", "ca.pem"): ca,
		filepath.Join(dir, "trustpolicy.json"):                                 policy,
		filepath.Join(dir, "enterprise.pub"):                                   pub,
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			return err
		}
	}
	verify := []string{"--policy", filepath.Join(dir, "trustpolicy.json"), "--trust-store", filepath.Join(dir, "truststore"), "--cosign-key", filepath.Join(dir, "enterprise.pub")}
	out, err := run(append([]string{"verify", ref}, verify...)...)
	if err != nil {
		return err
	}
	step("cssc verify %s with a trust policy and the public key (exit 0):\n%s", ref, indent(out))
	out, err = run(append([]string{"verify", ref2}, verify...)...)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		return fmt.Errorf("cssc verify of an image signed by another key: want exit 1, got %v", err)
	}
	step("cssc verify %s, signed by another key (exit 1, with the reason):\n%s", ref2, indent(out))
	return nil
}
