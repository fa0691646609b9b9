# PGQ_CHECK_CFLAG(FLAG, [ACTION-IF-OK], [ACTION-IF-NOT])
# Compile and link an empty program with FLAG (and -Werror, so that a flag the
# compiler only warns about counts as unsupported).
AC_DEFUN([PGQ_CHECK_CFLAG], [
  AC_MSG_CHECKING([whether $CC accepts $1])
  pgq_save_CFLAGS="$CFLAGS"
  pgq_save_LDFLAGS="$LDFLAGS"
  CFLAGS="$CFLAGS -Werror $1"
  LDFLAGS="$LDFLAGS $1"
  AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])],
    [AC_MSG_RESULT([yes])
     $2],
    [AC_MSG_RESULT([no])
     $3])
  CFLAGS="$pgq_save_CFLAGS"
  LDFLAGS="$pgq_save_LDFLAGS"
])
