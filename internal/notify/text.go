package notify

import (
	"strconv"
	"strings"
)

// kindText is the emoji and verb of a kind.
func kindText(kind string) (emoji, verb string) {
	switch kind {
	case KindPromoted:
		return ":white_check_mark:", "promoted"
	case KindBlocked:
		return ":no_entry:", "blocked"
	case KindFailed:
		return ":x:", "failed"
	case KindDemoted:
		return ":arrow_down:", "demoted"
	case KindFlagged:
		return ":warning:", "flagged"
	}
	return ":bell:", kind
}

// Text is the event as one line of Slack-formatted text, e.g.
//
//	:white_check_mark: promoted docker.io/library/nginx:1.27 → golden/library/nginx:1.27 (risk 12)
//	:no_entry: blocked docker.io/library/nginx:1.27 → quarantine/library/nginx:1.27 (risk 85): reason; reason
//
// followed by a link to URL when there is one. &, < and > in the event's
// values are escaped as Slack requires; line breaks become spaces.
func Text(e Event) string {
	emoji, verb := kindText(e.Kind)
	var b strings.Builder
	b.WriteString(emoji + " " + escape(verb))
	switch {
	case e.Source != "" && e.Image != "":
		b.WriteString(" " + escape(e.Source) + " → " + escape(e.Image))
	case e.Source != "":
		b.WriteString(" " + escape(e.Source))
	case e.Image != "":
		b.WriteString(" " + escape(e.Image))
	}
	if e.RiskScore >= 0 {
		b.WriteString(" (risk " + strconv.Itoa(e.RiskScore) + ")")
	}
	var reasons []string
	for _, r := range e.Reasons {
		if r = escape(r); r != "" {
			reasons = append(reasons, r)
		}
	}
	if len(reasons) > 0 {
		b.WriteString(": " + strings.Join(reasons, "; "))
	}
	if e.URL != "" && !strings.ContainsAny(e.URL, "|<> \t\r\n") {
		b.WriteString(" <" + strings.ReplaceAll(e.URL, "&", "&amp;") + "|details>")
	}
	return b.String()
}

// escape makes s safe in Slack text on one line.
func escape(s string) string {
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(s)
	return strings.TrimSpace(s)
}
