package main

import (
	"os"
	"regexp"
	"strings"
	"sync"
)

// pot.conf is a line based key=value file that pot reads with grep, sed,
// cut and tr and writes with `sed -i` (delete lines) and `echo >>` (append a
// line). The helpers here reproduce those exact pipelines, so that potsim
// reads back what pot would read back, including from a value that held a
// newline and so wrote a second line.

// readLines returns the lines of a file; a missing final newline is
// tolerated, a missing file gives no lines.
func readLines(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return readLinesData(data)
}

func readLinesData(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	s := strings.TrimSuffix(string(data), "\n")
	return strings.Split(s, "\n")
}

var (
	regexMu    sync.Mutex
	regexCache = map[string]*regexp.Regexp{}
)

// re compiles a grep/sed pattern. The patterns pot uses on pot.conf are
// plain keys where '.' matches any character, so Go's syntax agrees.
func re(pattern string) *regexp.Regexp {
	regexMu.Lock()
	defer regexMu.Unlock()
	if r, ok := regexCache[pattern]; ok {
		return r
	}
	r := regexp.MustCompile(pattern)
	regexCache[pattern] = r
	return r
}

// grepLines is `grep PATTERN FILE`.
func grepLines(path, pattern string) []string {
	r := re(pattern)
	var out []string
	for _, l := range readLines(path) {
		if r.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// cmdSubst is what $( ... ) makes of a command's output lines: joined with
// newlines, trailing newlines removed.
func cmdSubst(lines []string) string {
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// cutField is `cut -f N -d D` on one line (a line without the delimiter is
// printed whole).
func cutField(line string, d string, n int) string {
	if !strings.Contains(line, d) {
		return line
	}
	parts := strings.Split(line, d)
	if n-1 < len(parts) {
		return parts[n-1]
	}
	return ""
}

// keyPattern is the grep pattern "^KEY=" (dots in KEY match any character,
// as they do for pot).
func keyPattern(key string) string { return "^" + key + "=" }

// getConfVar is pot's _get_conf_var: grep "^KEY=" | tr -d ' \t"' | cut -f2 -d'='.
func getConfVar(name, key string) string {
	var out []string
	for _, l := range grepLines(confFile(name), keyPattern(key)) {
		l = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '"' {
				return -1
			}
			return r
		}, l)
		out = append(out, cutField(l, "=", 2))
	}
	return cmdSubst(out)
}

// getConfVarString is pot's _get_conf_var_string: grep "^KEY=" | cut -f2 -d'='.
func getConfVarString(name, key string) string {
	var out []string
	for _, l := range grepLines(confFile(name), keyPattern(key)) {
		out = append(out, cutField(l, "=", 2))
	}
	return cmdSubst(out)
}

// stripPrefixLines is `grep "^KEY=" FILE | sed 's/^KEY=//'`.
func stripPrefixLines(path, key string) []string {
	r := re(keyPattern(key))
	var out []string
	for _, l := range readLines(path) {
		if loc := r.FindStringIndex(l); loc != nil {
			out = append(out, l[loc[1]:])
		}
	}
	return out
}

// getIPVar is pot's _get_ip_var: grep "^ip=" | sed 's/^ip=//'.
func getIPVar(name string) string { return cmdSubst(stripPrefixLines(confFile(name), "ip")) }

// getExportPorts is pot's _get_pot_export_ports:
// awk '/pot.export.ports/ { n=split($0,array,"="); if (n==2) { print array[2]; } }'.
func getExportPorts(name string) string {
	r := re("pot.export.ports")
	var out []string
	for _, l := range readLines(confFile(name)) {
		if !r.MatchString(l) {
			continue
		}
		if parts := strings.Split(l, "="); len(parts) == 2 {
			out = append(out, parts[1])
		}
	}
	return cmdSubst(out)
}

// getPotCmd is start.sh's _js_get_cmd: the pot.cmd lines, "sh /etc/rc" if none.
func getPotCmd(name string) string {
	v := cmdSubst(stripPrefixLines(confFile(name), "pot.cmd"))
	if v == "" {
		v = "sh /etc/rc"
	}
	return v
}

// confDeleteLines is `sed -i ” -e "/PATTERN/d" pot.conf`.
func confDeleteLines(name, pattern string) error {
	path := confFile(name)
	r := re(pattern)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, l := range readLinesData(data) {
		if r.MatchString(l) {
			continue
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	out := b.String()
	return writeFileAtomic(path, []byte(out), 0o644)
}

// confAppend is `echo "TEXT" >> pot.conf`: TEXT and a newline are appended,
// so a newline inside TEXT starts another line.
func confAppend(name, text string) error {
	return appendFile(confFile(name), text+"\n")
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// setConfKey deletes the lines "^KEY=" and appends "KEY=VALUE", the way
// set-attribute, set-rss and the status changes of pot do.
func setConfKey(name, key, value string) error {
	if err := confDeleteLines(name, "^"+key+"=.*"); err != nil {
		return err
	}
	return confAppend(name, key+"="+value)
}

// shLines is what `echo "$VALUE" | sed ...` feeds sed: the lines of VALUE.
func shLines(v string) []string { return strings.Split(v, "\n") }

// normalizeTrueFalse is pot's _normalize_true_false.
func normalizeTrueFalse(v string) (string, bool) {
	switch strings.ToLower(v) {
	case "yes", "true", "on":
		return "YES", true
	case "no", "false", "off":
		return "NO", true
	}
	return "", false
}

// potType is _get_pot_type: pot.type, "multi" when unset.
func potType(name string) string {
	t := getConfVar(name, "pot.type")
	if t == "" {
		t = "multi"
	}
	return t
}

func networkType(name string) string { return getConfVar(name, "network_type") }

// potNetworkStack is _get_pot_network_stack.
func potNetworkStack(name string) string {
	s := getConfVar(name, "pot.stack")
	if s == "" {
		return networkStack
	}
	return s
}

// isPot is pot's _is_pot.
func isPot(name string, quiet bool) bool {
	if !safeName(name) || !isDir(jailDir(name)) {
		qerrorf(quiet, "Pot %s not found", name)
		return false
	}
	if !isDir(mDir(name)) || !isReadable(confFile(name)) {
		qerrorf(quiet, "Some component of the pot %s is missing", name)
		return false
	}
	if potType(name) == "multi" && !isReadable(fscompFile(name)) {
		qerrorf(quiet, "Some component of the pot %s is missing", name)
		return false
	}
	return true
}

// potList is _get_pot_list: every folder under jails/, sorted.
func potList() []string {
	entries, err := os.ReadDir(jailsDir())
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || (e.Type()&os.ModeSymlink != 0 && isDir(jailDir(e.Name()))) {
			out = append(out, e.Name())
		}
	}
	return out
}
