package kern

// SplitCmdline splits the boot loader's command line into the runtime's
// argv and envp: words of the form NAME=value whose NAME is upper case
// (GODEBUG=..., GOGC=..., GOMAXPROCS=...) become environment variables;
// every other word is an argument. The first word (the kernel's path, as
// QEMU and GRUB pass it) is argv[0]. Double quotes group words. After a
// word "--" every word is an argument, as Linux hands everything after
// "--" to init: the application's own arguments pass through verbatim
// (the "--" itself stays in argv, where package smpgo splits kernel
// options from the application's arguments).
//
// It does not allocate: fields are returned as index pairs into cmdline.
func SplitCmdline(cmdline []byte, argv, envp [][2]int) (nargv, nenv int) {
	i := 0
	rest := false // after "--"
	for i < len(cmdline) {
		for i < len(cmdline) && (cmdline[i] == ' ' || cmdline[i] == '\t' || cmdline[i] == '\n') {
			i++
		}
		if i >= len(cmdline) {
			break
		}
		start := i
		quoted := false
		for i < len(cmdline) && (quoted || (cmdline[i] != ' ' && cmdline[i] != '\t' && cmdline[i] != '\n')) {
			if cmdline[i] == '"' {
				quoted = !quoted
			}
			i++
		}
		w := [2]int{start, i}
		if !rest && isEnvWord(cmdline[start:i]) && nargv > 0 {
			if nenv < len(envp) {
				envp[nenv] = w
				nenv++
			}
		} else if nargv < len(argv) {
			argv[nargv] = w
			nargv++
			rest = rest || (nargv > 1 && i-start == 2 && cmdline[start] == '-' && cmdline[start+1] == '-')
		}
	}
	return nargv, nenv
}

func isEnvWord(w []byte) bool {
	for i, c := range w {
		switch {
		case c == '=':
			return i > 0
		case c >= 'A' && c <= 'Z', c == '_', i > 0 && c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return false
}
