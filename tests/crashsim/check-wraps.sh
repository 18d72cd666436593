#!/bin/sh
# SPDX-License-Identifier: MIT
# check-wraps.sh NM LIBRARY WRAPPED... -- fail if the engine calls a
# blocking or file-changing function that the crash simulator does not
# wrap.  A blocking call the scheduler does not know would hang a run (the
# watchdog says so after 300 s); a file operation the file-system model
# does not see would make crash states it cannot build.  Either way the
# simulator must learn the call first: add it to crashsim_wraps
# (CMakeLists.txt) and to sched.c or fs.c.
nm=$1
lib=$2
shift 2
wrapped=" $* "

# Called by the engine, and harmless without a wrapper: set-up and
# teardown, calls that never wait for another thread, reads, mmap/munmap
# (interposed process-wide in fs.c), and link, which only check.c's
# offline repair calls (quarantine files, the meta pool set aside): the
# simulator never runs a repair (docs/testing.md, limits), rmdir,
# which only backup.c calls, on its own destination after a failed backup
# (never on the database directory), and liburcu's fork handlers, which
# index.c installs once (pthread_atfork) and which run only around a
# fork() of the application's (the engine never forks).
allowed=" pthread_mutex_init pthread_mutex_destroy pthread_cond_init
 pthread_cond_destroy pthread_condattr_init pthread_condattr_destroy
 pthread_condattr_setclock pthread_rwlock_init pthread_rwlock_destroy
 pthread_rwlockattr_init pthread_rwlockattr_destroy
 pthread_rwlockattr_setkind_np pthread_once pthread_self pthread_equal
 pthread_key_create pthread_getspecific pthread_setspecific
 pthread_attr_init pthread_attr_destroy pthread_setname_np
 pthread_rwlock_tryrdlock pthread_rwlock_trywrlock pthread_sigmask
 urcu_bp_call_rcu urcu_bp_barrier urcu_bp_register_thread
 pthread_atfork urcu_bp_before_fork urcu_bp_after_fork_parent
 urcu_bp_after_fork_child urcu_bp_call_rcu_before_fork
 urcu_bp_call_rcu_after_fork_parent urcu_bp_call_rcu_after_fork_child
 mmap munmap madvise mkdir opendir readdir closedir fopen fread fclose
 fseek ftell pread stat fstat faccessat access link rmdir "
# shellcheck disable=SC2086
allowed=" $(echo $allowed) "

status=0
for sym in $("$nm" "$lib" 2>/dev/null | awk '$1 == "U" { print $2 }' | sort -u); do
	case $sym in
	pthread_*|sem_*|urcu_*|sched_yield|nanosleep|clock_nanosleep|usleep|\
	sleep|pause|poll|ppoll|select|epoll_wait|futex|syscall|\
	open|open64|openat|openat64|creat|creat64|close|write|pwrite|pwrite64|\
	writev|pwritev|ftruncate|ftruncate64|fallocate|fallocate64|\
	posix_fallocate|posix_fallocate64|fsync|fdatasync|sync_file_range|\
	syncfs|unlink|unlinkat|rename|renameat|renameat2|link|linkat|\
	symlink|symlinkat|rmdir|copy_file_range|sendfile|msync|mremap|\
	pmem_map_file|pmem_unmap|fopen|fopen64|freopen|fwrite|fputs|fprintf|\
	mmap|mmap64|munmap|madvise|mkdir|opendir|readdir|closedir|fread|\
	fclose|fseek|ftell|pread|pread64|stat|fstat|faccessat|access)
		case "$wrapped$allowed" in
		*" $sym "*) ;;
		*)
			case $sym in
			fprintf) ;; # stderr messages only (tests grep it)
			# guard.c's one line to stderr before abort() when no
			# pthread key can be had (the compiler makes fputs fwrite)
			fwrite|fputs) ;;
			*)
				echo "check-wraps: the engine calls $sym, which the crash simulator does not wrap"
				status=1
				;;
			esac
			;;
		esac
		;;
	esac
done
[ $status = 0 ] && echo "check-wraps: every blocking and file-changing call of the engine is wrapped"
exit $status
