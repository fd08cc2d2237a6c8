package pot

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Info is what `pot info -E` tells of a pot.
type Info struct {
	// Vars are all assignments, by name (e.g. "_POT_NAME").
	Vars map[string]string
}

// Name is the pot's name (_POT_NAME).
func (i Info) Name() string { return i.Vars["_POT_NAME"] }

// IPs are the pot's addresses: _POT_IP_0, _POT_IP_1, ... for the alias
// network type (pot also sets _POT_IP to the first of them), else _POT_IP.
func (i Info) IPs() []string {
	if _, list := i.Vars["_POT_IP_0"]; !list {
		if ip := i.Vars["_POT_IP"]; ip != "" {
			return []string{ip}
		}
		return nil
	}
	var ips []string
	for n := 0; ; n++ {
		ip, ok := i.Vars["_POT_IP_"+strconv.Itoa(n)]
		if !ok {
			return ips
		}
		if ip != "" {
			ips = append(ips, ip)
		}
	}
}

// JID is the running jail's id (_POT_JID), 0 when it does not run.
func (i Info) JID() int {
	n, _ := strconv.Atoi(i.Vars["_POT_JID"])
	return n
}

// Info returns a pot's `pot info -E` assignments, parsed, never evaluated.
func (c *Client) Info(ctx context.Context, name string) (Info, error) {
	out, err := c.run(ctx, "info", "-E", "-p", name)
	if err != nil {
		return Info{}, err
	}
	return ParseInfoExports(string(out))
}

// ParseInfoExports parses `export NAME=VALUE` lines as pot info -E prints
// them. VALUE may be bare, single- or double-quoted; nothing is expanded.
// Lines that are not assignments are refused rather than guessed at.
func ParseInfoExports(out string) (Info, error) {
	info := Info{Vars: map[string]string{}}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rest, ok := strings.CutPrefix(line, "export ")
		if !ok {
			return Info{}, fmt.Errorf("pot info -E: unexpected line %q", line)
		}
		name, value, ok := strings.Cut(strings.TrimSpace(rest), "=")
		if !ok || !IsEnvName(name) {
			return Info{}, fmt.Errorf("pot info -E: unexpected line %q", line)
		}
		v, err := unquoteShellValue(value)
		if err != nil {
			return Info{}, fmt.Errorf("pot info -E: %s: %w", name, err)
		}
		info.Vars[name] = v
	}
	return info, nil
}

// unquoteShellValue undoes the quoting a single shell word may carry:
// '...' literally, "..." with \\ \" \$ \` escapes, or a bare word.
func unquoteShellValue(v string) (string, error) {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		inner := v[1 : len(v)-1]
		if strings.Contains(inner, "'") {
			return "", fmt.Errorf("unsupported quoting in %q", v)
		}
		return inner, nil
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var b strings.Builder
		inner := v[1 : len(v)-1]
		for i := 0; i < len(inner); i++ {
			ch := inner[i]
			if ch == '\\' && i+1 < len(inner) && strings.IndexByte("\\\"$`", inner[i+1]) >= 0 {
				i++
				ch = inner[i]
			} else if ch == '"' || ch == '$' || ch == '`' {
				return "", fmt.Errorf("unsupported expansion in %q", v)
			}
			b.WriteByte(ch)
		}
		return b.String(), nil
	}
	// A bare word, whose characters may be escaped with a backslash (pot
	// prints _POT_IP_LIST=_POT_IP_0\ _POT_IP_1 for an alias pot).
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		ch := v[i]
		if ch == '\\' && i+1 < len(v) {
			i++
			b.WriteByte(v[i])
			continue
		}
		if strings.IndexByte("'\"$`\\ \t;|&<>()", ch) >= 0 {
			return "", fmt.Errorf("unsupported shell syntax in %q", v)
		}
		b.WriteByte(ch)
	}
	return b.String(), nil
}

// ResourceUsage is what `pot get-rss -J` reports of a running jail.
type ResourceUsage struct {
	MemoryStats struct {
		RSS  uint64 `json:"RSS"`
		Swap uint64 `json:"Swap"`
	} `json:"MemoryStats"`
	CpuStats struct {
		TotalTicks float64 `json:"TotalTicks"`
		Percent    float64 `json:"Percent"`
	} `json:"CpuStats"`
}

// ParseResourceUsage parses `pot get-rss -J` output.
func ParseResourceUsage(out []byte) (*ResourceUsage, error) {
	var doc struct {
		ResourceUsage *ResourceUsage `json:"ResourceUsage"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("pot get-rss -J: %w", err)
	}
	if doc.ResourceUsage == nil {
		return nil, fmt.Errorf("pot get-rss -J: no ResourceUsage in %q", strings.TrimSpace(string(out)))
	}
	return doc.ResourceUsage, nil
}

// GetRSS returns a running jail's resource usage (`pot get-rss -J`).
func (c *Client) GetRSS(ctx context.Context, name string) (*ResourceUsage, error) {
	out, err := c.run(ctx, "get-rss", "-p", name, "-J")
	if err != nil {
		return nil, err
	}
	return ParseResourceUsage(out)
}

// RunStats is what `pot last-run-stats` reports of a pot's last run.
type RunStats struct {
	// ExitCode of the last run's command; nil if the pot never ran.
	ExitCode *int `json:"ExitCode"`
}

// ParseRunStats parses `pot last-run-stats` output.
func ParseRunStats(out []byte) (*RunStats, error) {
	var rs RunStats
	if err := json.Unmarshal(out, &rs); err != nil {
		return nil, fmt.Errorf("pot last-run-stats: %w", err)
	}
	return &rs, nil
}

// LastRunStats returns the stats of a pot's last run (`pot last-run-stats`).
func (c *Client) LastRunStats(ctx context.Context, name string) (*RunStats, error) {
	out, err := c.run(ctx, "last-run-stats", "-p", name)
	if err != nil {
		return nil, err
	}
	return ParseRunStats(out)
}
