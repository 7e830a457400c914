package auth

import (
	"testing"
	"time"
)

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, repo string
		want          bool
	}{
		{"**", "a", true},
		{"**", "a/b/c", true},
		{"team/**", "team/app", true},
		{"team/**", "team/app/sub", true},
		{"team/**", "team", false},
		{"team/**", "teams/app", false},
		{"team/*", "team/app", true},
		{"team/*", "team/app/sub", false},
		{"team/app", "team/app", true},
		{"team/app", "team/app2", false},
		{"*/app", "x/app", true},
		{"**/app", "x/y/app", true},
		{"**/app", "app", true},
		{"golden/**", "quarantine/golden/x", false},
		{"app-*", "app-web", true},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/b/c", false},
		{"a/**/b/**", "a/x/b/c", true},
		{"a/**/b/**", "a/x/b", false},
		{"**/app", "app/x", false},
		{"team/*", "team", false},
		{"team/app", "team/app/", false},
		{"team/app", "team", false},
		{"**/**", "a", true},
	}
	for _, tt := range tests {
		if got := MatchPattern(tt.pattern, tt.repo); got != tt.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", tt.pattern, tt.repo, got, tt.want)
		}
	}
}

// Decide runs on every registry request: an allowed one must not allocate.
func TestDecideAllowedDoesNotAllocate(t *testing.T) {
	p := &Principal{Name: "ci", Kind: KindRobot, Grants: []Grant{{Role: RolePush, Pattern: "other/**"}, {Role: RolePull, Pattern: "team/**/app"}}}
	var d Decision
	allocs := testing.AllocsPerRun(100, func() { d = p.Decide(ActionPull, "team/x/y/app") })
	if !d.Allowed || d.Grant == nil || *d.Grant != p.Grants[1] {
		t.Fatalf("Decide = %+v, want allowed by %v", d, p.Grants[1])
	}
	if allocs != 0 {
		t.Errorf("an allowed Decide allocates %.0f times per call, want 0", allocs)
	}
}

func TestValidatePattern(t *testing.T) {
	for _, ok := range []string{"**", "team/**", "a/*/b", "app-[ab]"} {
		if err := ValidatePattern(ok); err != nil {
			t.Errorf("ValidatePattern(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a//b", "a**", "team/x**", "[", "/a"} {
		if err := ValidatePattern(bad); err == nil {
			t.Errorf("ValidatePattern(%q) accepted", bad)
		}
	}
}

func TestDecideBuiltInRules(t *testing.T) {
	admin := &Principal{Name: "admin", Kind: KindUser, Grants: []Grant{{RoleAdmin, "**"}}}
	pipeline := &Principal{Name: "acquire", Kind: KindRobot, Pipeline: true}
	// A user granted everything everywhere still meets the built-in rules.
	greedy := &Principal{Name: "greedy", Kind: KindUser, Grants: []Grant{{RoleDelete, "**"}}}
	puller := &Principal{Name: "ci", Kind: KindRobot, Grants: []Grant{{RolePull, "golden/**"}, {RolePull, "quarantine/**"}}}
	anon := Anonymous()
	anon.Grants = []Grant{{RolePull, "**"}}
	open := &Principal{Name: "anonymous", Kind: KindAnonymous, Open: true}

	type want struct{ allowed, breakGlass bool }
	tests := []struct {
		p      *Principal
		action Action
		repo   string
		want   want
	}{
		{admin, ActionPull, "quarantine/nginx", want{true, false}},
		{admin, ActionPush, "golden/nginx", want{true, true}},
		{admin, ActionDelete, "golden/nginx", want{true, true}},
		{admin, ActionPush, "team/app", want{true, false}},
		{pipeline, ActionPull, "quarantine/nginx", want{true, false}},
		{pipeline, ActionPush, "golden/nginx", want{true, false}},
		{pipeline, ActionDelete, "golden/nginx", want{true, false}},
		{pipeline, ActionPull, "team/app", want{false, false}},
		{greedy, ActionPull, "quarantine/nginx", want{false, false}},
		{greedy, ActionPush, "quarantine/nginx", want{false, false}},
		{greedy, ActionPush, "golden/nginx", want{false, false}},
		{greedy, ActionDelete, "golden/nginx", want{false, false}},
		{greedy, ActionPull, "golden/nginx", want{true, false}},
		{greedy, ActionDelete, "team/app", want{true, false}},
		{puller, ActionPull, "golden/nginx", want{true, false}},
		{puller, ActionPush, "golden/nginx", want{false, false}},
		{puller, ActionPull, "quarantine/nginx", want{false, false}},
		{puller, ActionPull, "team/app", want{false, false}},
		{anon, ActionPull, "team/app", want{true, false}},
		{anon, ActionPull, "quarantine/nginx", want{false, false}},
		{anon, ActionPush, "team/app", want{false, false}},
		{open, ActionPush, "golden/x", want{true, false}},
	}
	for _, tt := range tests {
		d := tt.p.Decide(tt.action, tt.repo)
		if d.Allowed != tt.want.allowed || d.BreakGlass != tt.want.breakGlass {
			t.Errorf("%s %s %s: allowed=%v breakGlass=%v (%s), want %+v", tt.p.Name, tt.action, tt.repo, d.Allowed, d.BreakGlass, d.Reason, tt.want)
		}
		if !d.Allowed && d.Reason == "" {
			t.Errorf("%s %s %s: a refusal without a reason", tt.p.Name, tt.action, tt.repo)
		}
	}
}

func TestRolesAreCumulative(t *testing.T) {
	for _, tt := range []struct {
		role    Role
		allowed []Action
	}{
		{RolePull, []Action{ActionPull}},
		{RolePush, []Action{ActionPull, ActionPush}},
		{RoleDelete, []Action{ActionPull, ActionPush, ActionDelete}},
	} {
		p := &Principal{Name: "u", Kind: KindUser, Grants: []Grant{{tt.role, "team/**"}}}
		for _, a := range []Action{ActionPull, ActionPush, ActionDelete} {
			want := false
			for _, ok := range tt.allowed {
				want = want || ok == a
			}
			if got := p.Decide(a, "team/app").Allowed; got != want {
				t.Errorf("role %s, action %s: allowed=%v, want %v", tt.role, a, got, want)
			}
		}
	}
}

func TestLimitsNarrow(t *testing.T) {
	p := &Principal{Name: "u", Kind: KindUser, Grants: []Grant{{RoleDelete, "**"}}}
	p.Limit = ScopeLimit{Role: RolePull, Pattern: "team/**"}
	if !p.Decide(ActionPull, "team/app").Allowed {
		t.Error("a pull token on team/** cannot pull team/app")
	}
	if p.Decide(ActionPush, "team/app").Allowed {
		t.Error("a pull token can push")
	}
	if p.Decide(ActionPull, "other/app").Allowed {
		t.Error("a token for team/** can pull other/app")
	}
	p.Limit = tokenAccess{{Type: "repository", Name: "team/app", Actions: []string{"pull"}}}
	if !p.Decide(ActionPull, "team/app").Allowed || p.Decide(ActionPush, "team/app").Allowed || p.Decide(ActionPull, "team/other").Allowed {
		t.Error("a registry token is not limited to its scopes")
	}
	if _, ok := p.CatalogView(); ok {
		t.Error("a registry token without the catalog scope lists the catalog")
	}
}

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes([]string{"repository:team/app:pull,push registry:catalog:*", "repository(plugin):x:pull"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"repository:team/app:pull,push", "registry:catalog:*", "repository:x:pull"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("scope %d = %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"repository", "repository:x", ":x:pull"} {
		if _, err := ParseScopes([]string{bad}); err == nil {
			t.Errorf("ParseScopes(%q) accepted", bad)
		}
	}
}

func TestSecretHash(t *testing.T) {
	h, err := HashSecret("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := CheckSecret(h, "correct horse battery staple"); !ok || err != nil {
		t.Fatalf("right secret refused: %v %v", ok, err)
	}
	if ok, _ := CheckSecret(h, "correct horse battery stapler"); ok {
		t.Fatal("wrong secret accepted")
	}
	if ok, _ := CheckSecret(dummyHash, "anything"); ok {
		t.Fatal("the dummy hash matched")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=1,t=1$x$y", "$bcrypt$x", h[:len(h)-3] + "!!!"} {
		if ok, _ := CheckSecret(bad, "x"); ok {
			t.Errorf("malformed hash %q matched", bad)
		}
	}
	id, secret, ok := parseAPIToken(formatAPIToken("abc_def-ghij", "s_e_c"))
	if !ok || id != "abc_def-ghij" || secret != "s_e_c" {
		t.Errorf("API token round trip: %q %q %v", id, secret, ok)
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(3, time.Minute, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if !l.allow("alice", "10.0.0.1") {
			t.Fatalf("attempt %d refused", i)
		}
		l.fail("alice", "10.0.0.1")
	}
	if l.allow("alice", "10.0.0.2") {
		t.Error("account limit not applied from another address")
	}
	if !l.allow("bob", "10.0.0.1") {
		t.Error("another account refused before the source limit")
	}
	for i := 0; i < 9; i++ {
		l.fail("user"+string(rune('a'+i)), "10.0.0.9")
	}
	if l.allow("fresh", "10.0.0.9") {
		t.Error("source limit not applied")
	}
	now = now.Add(time.Minute)
	if !l.allow("alice", "10.0.0.1") || !l.allow("fresh", "10.0.0.9") {
		t.Error("limits outlive their window")
	}
}
