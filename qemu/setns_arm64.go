package qemu

// sysSetns is setns(2)'s number on linux/arm64 (the syscall package has
// no name for it).
const sysSetns = 268
