package main

import "golang.org/x/sys/unix"

func isTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}

// makeRaw puts a terminal in raw mode (as script(1) does with its stdin)
// and returns how to restore it.
func makeRaw(fd uintptr) (func(), error) {
	old, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	if err != nil {
		return nil, err
	}
	t := *old
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(int(fd), unix.TCSETS, &t); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(int(fd), unix.TCSETS, old) }, nil
}

// ptyCanonical reports whether the terminal behind a pty master is in
// canonical mode (script(1) then turns an EOF of its input into VEOF).
func ptyCanonical(fd uintptr) bool {
	t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil && t.Lflag&unix.ICANON != 0
}

func ptyEOFChar(fd uintptr) byte {
	t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	if err != nil || t.Cc[unix.VEOF] == 0 {
		return 4
	}
	return t.Cc[unix.VEOF]
}
