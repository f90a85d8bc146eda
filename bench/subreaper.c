/*
 * subreaper.c - run a command as a child subreaper (Linux), so that the
 * processes it leaves behind come back here and are reaped here.
 *
 *	subreaper COMMAND [ARG...]
 *
 * compare.sh counts a server's CPU from /proc/PID/stat of its process
 * tree, reaped children included (cutime, cstime). Anvil starts some work
 * in detached grandchildren (a CGI request's validation, a FastCGI
 * process's checkpoint): they leave the tree, and their CPU was not
 * counted. Under this wrapper they are reparented to it when their parent
 * exits, and their CPU lands in its cutime/cstime when it reaps them.
 * spawn-fcgi's servers come back here the same way.
 *
 * It also starts a process group of its own: lighttpd with
 * server.max-worker stops its workers with kill(0, SIGTERM), which reached
 * compare.sh in the same process group and ended it before it had cleaned
 * up. A group, not a session: with the scheduler's autogroup (on by
 * default) every session gets an equal share of the CPU, so a server in a
 * session of its own would no longer compete with the generator as Pebble
 * does (HEAD newNonce on one lighttpd went from 31k to 43k req/s that way,
 * and on two lighttpd workers from 44k to 34k).
 *
 * TERM, INT and HUP are passed on to COMMAND. When COMMAND has exited,
 * the wrapper reaps what is left and exits with COMMAND's status.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	sigset_t set, old;
	siginfo_t si;
	pid_t cmd, p;
	int sig, status, rc = 1, cmd_done = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: subreaper COMMAND [ARG...]\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
		fprintf(stderr, "subreaper: prctl: %s\n", strerror(errno));
		return 1;
	}
	if (setpgid(0, 0) != 0) {
		fprintf(stderr, "subreaper: setpgid: %s\n", strerror(errno));
		return 1;
	}
	/* Taken with sigwaitinfo below, so none is missed between checks. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	if ((cmd = fork()) < 0) {
		fprintf(stderr, "subreaper: fork: %s\n", strerror(errno));
		return 1;
	}
	if (cmd == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "subreaper: %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	for (;;) {
		/* Reap whatever has exited: COMMAND, or an orphan of its. */
		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p == cmd) {
				cmd_done = 1;
				rc = WIFEXITED(status) ? WEXITSTATUS(status) :
				    128 + WTERMSIG(status);
			}
		}
		if (p < 0 && errno == ECHILD)
			break;		/* nothing left */
		if ((sig = sigwaitinfo(&set, &si)) < 0)
			continue;	/* EINTR */
		if (sig != SIGCHLD && !cmd_done)
			kill(cmd, sig);
	}
	return rc;
}
