# inetkit: plain make, no configure step. See README.md.
.DELETE_ON_ERROR:
.SUFFIXES:

PREFIX     ?= /usr/local
LIBEXECDIR ?= $(PREFIX)/libexec
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
STATEDIR   ?= /var/lib
XINETDDIR  ?= $(SYSCONFDIR)/xinetd.d
UNITDIR    ?= $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
DESTDIR    ?=
PKGDIR      = $(LIBEXECDIR)/inetkit

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-format-nonliteral
CPPFLAGS += -D_DEFAULT_SOURCE -D_FORTIFY_SOURCE=2
HARDEN   = -fstack-protector-strong -fPIE
# A section a function: lets common/startup.ld gather the start-up text.
ALL_CFLAGS = -std=c11 $(WARN) $(HARDEN) $(CPPFLAGS) $(CFLAGS) -ffunction-sections

# The programs, and how each is linked. A process is started for every
# connection, so what a program does before its first byte is paid on every
# connection: one that loads nothing at run time is linked statically; one
# that loads modules at run time cannot be. The measured start-up costs are
# in README.md, "Design decisions" (and "Benchmark", bench/RESULTS.md).
#
#   program     linked    why
#   echo        static    loads nothing at run time
#   lcecho      static    loads nothing at run time
#   blockip     static    loads nothing at run time (then execs PROGRAM)
#   relay       static    loads nothing at run time
#   cmdserver   dynamic   PAM dlopens its modules at run time, which glibc
#                         does not support from a static binary
#   tls         dynamic   links libtls and OpenSSL (Debian's libtls is
#                         libretls): their security fixes come with the
#                         system's update, not with a rebuild of inetkit
#
# (glibc's NSS modules, for --reverse-lookups, are the one exception a static
# program loads: README.md, "Design decisions".) A new program goes in one of
# the two lists; a static one needs no rule of its own. SANITIZE=1 links
# every program dynamically, with ASan and UBSan.
STATIC_PROGS  = echo lcecho blockip relay
DYNAMIC_PROGS = cmdserver tls
PROGS         = $(STATIC_PROGS) $(DYNAMIC_PROGS)
# common/startup.ld: a connection's start-up text side by side, in few pages.
STATIC_LDFLAGS  = -static-pie -Wl,-T,common/startup.ld
DYNAMIC_LDFLAGS = -pie -Wl,-z,relro -Wl,-z,now
# BUILD (the output folder) may be set, to keep two builds apart.
ifeq ($(SANITIZE),1)
BUILD   ?= build/san
ALL_CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
STATIC_LDFLAGS = -pie
else
BUILD   ?= build
endif

# PCRE2, for the --allow and --deny patterns (Perl's syntax, as Net::Server
# reads them), is linked statically into every program, the dynamic ones
# too: it loads nothing at run time, and so a pattern means in a service what
# it meant when the program was built and tested. It is named by the archive's
# path, which links the same way in every kind of link (-static-pie, -pie,
# SANITIZE=1, the fuzz targets); every link of libio takes $(PCRE2_LIBS).
PCRE2_LIBS   := $(shell $(CC) -print-file-name=libpcre2-8.a)
PCRE2_CFLAGS := $(shell pkg-config --cflags libpcre2-8 2>/dev/null)

LIBIO_SRC = common/addr.c common/acl.c common/backend.c common/blocklist.c common/conf.c common/conn.c common/program.c \
            common/daemon.c common/die.c common/filter.c common/io.c common/log.c common/peer.c \
            common/ports.c common/proxy.c common/serve.c common/srctab.c common/text.c common/tlsname.c \
            common/udp.c
LIBIO_OBJ = $(LIBIO_SRC:common/%.c=$(BUILD)/common/%.o)
BINS      = $(PROGS:%=$(BUILD)/%)

# The login modules (htpasswd and PAM backends), for any service that logs
# users in, and utmp, who(1)'s reader: cmdserver's, and the fuzz and lint
# targets' (AUTH_LIBS, AUTH_CFLAGS).
AUTH_OBJ = $(BUILD)/common/auth.o $(BUILD)/common/htpasswd.o $(BUILD)/common/pamauth.o
AUTH_LIBS := $(shell pkg-config --libs pam libcrypt libmd 2>/dev/null || echo -lpam -lcrypt -lmd)
AUTH_CFLAGS := $(shell pkg-config --cflags pam libcrypt libmd 2>/dev/null)
CMDSERVER_OBJ = $(BUILD)/cmd/cmdserver.o $(AUTH_OBJ) $(BUILD)/common/utmp.o

all: $(BINS)

$(BUILD)/common/%.o: common/%.c common/*.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/cmd/%.o: cmd/%.c common/*.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libio.a: $(LIBIO_OBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBIO_OBJ)

$(AUTH_OBJ): ALL_CFLAGS += $(AUTH_CFLAGS)
$(BUILD)/common/acl.o: ALL_CFLAGS += $(PCRE2_CFLAGS)

# Every static program: its one file in cmd/ and libio.
$(STATIC_PROGS:%=$(BUILD)/%): $(BUILD)/%: $(BUILD)/cmd/%.o $(BUILD)/libio.a common/startup.ld
	$(CC) $(STATIC_LDFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libio.a $(PCRE2_LIBS)

$(BUILD)/cmdserver: $(CMDSERVER_OBJ) $(BUILD)/libio.a
	$(CC) $(DYNAMIC_LDFLAGS) $(LDFLAGS) -o $@ $(CMDSERVER_OBJ) $(BUILD)/libio.a $(PCRE2_LIBS) \
	    $(AUTH_LIBS)

# tls, the one program that links libtls, and OpenSSL's libcrypto under it
# (for the client certificate's names in RFC 2253's form).
TLS_LIBS := $(shell pkg-config --libs libtls libcrypto 2>/dev/null || echo -ltls -lssl -lcrypto)
TLS_CFLAGS := $(shell pkg-config --cflags libtls libcrypto 2>/dev/null)
$(BUILD)/cmd/tls.o: ALL_CFLAGS += $(TLS_CFLAGS)
$(BUILD)/tls: $(BUILD)/cmd/tls.o $(BUILD)/libio.a
	$(CC) $(DYNAMIC_LDFLAGS) $(LDFLAGS) -o $@ $(BUILD)/cmd/tls.o $(BUILD)/libio.a $(PCRE2_LIBS) \
	    $(TLS_LIBS)

# On a fresh Debian machine these install what they need first (tests/deps).
test check:
	tests/deps
	$(MAKE) all
	BUILD=$(BUILD) tests/run-bats

run:
	tests/deps run
	$(MAKE) all
	BUILD=$(BUILD) tests/run-services

# The benchmark (bench/run): loopback only (the pool rows: a tun link in a network
# namespace of their own), bounded, about five minutes on 2 cores.
BENCH_BINS = $(BUILD)/bench/loadgen $(BUILD)/bench/floor $(BUILD)/bench/mklist $(BUILD)/bench/tlsload \
    $(BUILD)/bench/spliceecho
$(BUILD)/bench/loadgen: bench/loadgen.c bench/clock.h bench/target.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -pthread -o $@ bench/loadgen.c
$(BUILD)/bench/floor: bench/floor.c
	@mkdir -p $(@D)
	$(CC) -O2 -static -o $@ bench/floor.c
# The zero-work echo (splice through a pipe): the bulk client's own capacity.
$(BUILD)/bench/spliceecho: bench/spliceecho.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ bench/spliceecho.c
$(BUILD)/bench/mklist: bench/mklist.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ bench/mklist.c
# The TLS client (tls against stunnel4), on OpenSSL's libssl directly.
TLSLOAD_LIBS := $(shell pkg-config --libs libssl libcrypto 2>/dev/null || echo -lssl -lcrypto)
TLSLOAD_CFLAGS := $(shell pkg-config --cflags libssl libcrypto 2>/dev/null)
$(BUILD)/bench/tlsload: bench/tlsload.c bench/clock.h bench/target.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -pthread $(TLSLOAD_CFLAGS) -o $@ bench/tlsload.c \
	    $(TLSLOAD_LIBS)

bench:
	tests/deps bench
	$(MAKE) all $(BENCH_BINS)
	BUILD=$(BUILD) bench/run

# Fuzzing: every fuzz/fuzz_<name>.c is a libFuzzer target over libio (a new
# parser is one new file there); corpus seeds in fuzz/corpus/<name>/, extra
# libFuzzer flags, if a target needs them, in fuzz/fuzz_<name>.args.
# A long run: make fuzz FUZZ_RUNS=10000000 FUZZ_SECONDS=7200 (whichever ends first).
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?= -1
FUZZ_CC      = clang
FUZZ_FLAGS   = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
               -Wall -Wextra -Werror -D_DEFAULT_SOURCE -I common $(PCRE2_CFLAGS)
# The login modules, for fuzz_htpasswd and fuzz_cmdserver (which includes
# cmd/cmdserver.c itself, to drive its login and command loop in-process).
FUZZ_EXTRA_SRC  += common/auth.c common/htpasswd.c common/pamauth.c common/utmp.c
FUZZ_EXTRA_LIBS += $(AUTH_LIBS)
FUZZ_LIBS    = $(PCRE2_LIBS) $(FUZZ_EXTRA_LIBS)
FUZZ_TARGETS = $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_BINS    = $(FUZZ_TARGETS:%=build/fuzz/%)
FUZZ_SRC     = $(LIBIO_SRC) $(FUZZ_EXTRA_SRC)

build/fuzz/%: fuzz/%.c $(FUZZ_SRC) common/*.h cmd/*.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_SRC) $(FUZZ_LIBS)

fuzz-deps:
	tests/deps fuzz

fuzz: fuzz-deps
	$(MAKE) $(FUZZ_BINS)
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p build/fuzz/corpus/$$t; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	    build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -runs=$(FUZZ_RUNS) \
	        -max_len=65536 -rss_limit_mb=1024 -timeout=10 \
	        -artifact_prefix=build/fuzz/$$t- $$(cat fuzz/$$t.args 2>/dev/null) \
	        -print_final_stats=1 build/fuzz/corpus/$$t fuzz/corpus/$${t#fuzz_} \
	        2>build/fuzz/$$t.log || { tail -50 build/fuzz/$$t.log; exit 1; }; \
	    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|cov:' build/fuzz/$$t.log | tail -3; \
	done

# clang-tidy takes its checks from .clang-tidy, which says why each one left out is.
lint:
	tests/deps lint
	mandoc -T lint -W warning man/*.[0-9]
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	    --inline-suppr --suppress=missingIncludeSystem -I common common cmd
	@echo 'clang-tidy common/*.c cmd/*.c'; \
	out=$$(clang-tidy --quiet common/*.c cmd/*.c -- -std=c11 $(CPPFLAGS) -I common \
	    $(AUTH_CFLAGS) $(PCRE2_CFLAGS) 2>&1) || { printf '%s\n' "$$out"; exit 1; }

install: all
	install -d $(DESTDIR)$(PKGDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	for p in $(PROGS); do install -m 755 $(BUILD)/$$p $(DESTDIR)$(PKGDIR)/$$p; done
	for f in man/*.[58]; do b=$${f##*/}; \
	    $(MANSUBST) $$f > $(DESTDIR)$(MANDIR)/man$${b##*.}/$$b; done

# The pages are written with the default paths; installed, they show the real ones.
MANSUBST = sed -e 's|/usr/local/libexec/inetkit|$(PKGDIR)|g' \
    -e 's|/etc/inetkit|$(SYSCONFDIR)/inetkit|g' -e 's|/etc/xinetd.d|$(XINETDDIR)|g'

# Unit and xinetd files carry the installed paths, so they are made from templates here.
SUBST = sed -e 's|@PKGDIR@|$(PKGDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
    -e 's|@STATEDIR@|$(STATEDIR)|g'
install-units:
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(XINETDDIR)
	for f in units/*.socket; do install -m 644 $$f $(DESTDIR)$(UNITDIR)/; done
	for f in units/*.service.in; do b=$${f##*/}; \
	    $(SUBST) $$f > $(DESTDIR)$(UNITDIR)/$${b%.in}; done
	for f in xinetd.d/*.in; do b=$${f##*/}; \
	    $(SUBST) $$f > $(DESTDIR)$(XINETDDIR)/$${b%.in}; done
	@[ -n "$(DESTDIR)" ] || for u in $(XINETD_USERS); do \
	    getent passwd $$u >/dev/null && getent group $$u >/dev/null && continue; \
	    echo "install-units: the xinetd entries run as their own users;" \
	        "$$u is missing: make install-users creates them"; break; done

# Each xinetd entry runs as its own system user and group, named on its
# "user =" line (README "Deploy"), and keeps its table of sources in
# $(STATEDIR)/USER (0700, the user's own). install-users creates the missing ones on
# this machine, as root, and only with an empty DESTDIR: a staged install
# (a package) creates them on the target instead. It prints every command it
# runs, skips what exists, and retries a command that fails while another
# useradd holds the lock on /etc/passwd.
XINETD_USERS = $(sort $(shell sed -n \
    's/^[[:space:]]*user[[:space:]]*=[[:space:]]*\(inetkit-[a-z0-9-]*\)[[:space:]]*$$/\1/p' xinetd.d/*.in))
USERADD = useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin
install-users:
	@if [ -n "$(DESTDIR)" ]; then \
	    echo "install-users: DESTDIR is set: no user created; create on the target: $(XINETD_USERS)"; \
	    exit 0; fi; \
	for u in $(XINETD_USERS); do tries=0; \
	    while :; do \
	        p=; g=; getent passwd $$u >/dev/null && p=1; getent group $$u >/dev/null && g=1; \
	        if [ -n "$$p" ] && [ -n "$$g" ]; then \
	            echo "install-users: $$u: present ($$(id $$u))"; break; fi; \
	        [ "$$(id -u)" = 0 ] || { echo "install-users: $$u is missing; run as root" >&2; exit 1; }; \
	        if [ -z "$$p" ] && [ -z "$$g" ]; then set -- $(USERADD) --user-group $$u; \
	        elif [ -z "$$p" ]; then set -- $(USERADD) --gid $$u $$u; \
	        else set -- groupadd --system $$u; fi; \
	        echo "install-users: $$*"; \
	        "$$@" && continue; \
	        tries=$$((tries + 1)); [ $$tries -lt 5 ] || exit 1; sleep 1; \
	    done; \
	    d=$(STATEDIR)/$$u; [ -d "$$d" ] || echo "install-users: mkdir -m 700 $$d"; \
	    mkdir -p -m 700 "$$d" && chown "$$u:$$u" "$$d" && chmod 700 "$$d" || exit 1; \
	done
.PHONY: install-users

# The users install-users made stay, as Debian leaves a package's system
# users behind: userdel NAME (which also removes its group) removes one.
uninstall:
	for p in $(PROGS); do rm -f $(DESTDIR)$(PKGDIR)/$$p; done
	-rmdir $(DESTDIR)$(PKGDIR)
	for f in man/*.5; do rm -f $(DESTDIR)$(MANDIR)/man5/$${f##*/}; done
	for f in man/*.8; do rm -f $(DESTDIR)$(MANDIR)/man8/$${f##*/}; done
	for f in units/*.socket; do rm -f $(DESTDIR)$(UNITDIR)/$${f##*/}; done
	for f in units/*.service.in; do b=$${f##*/}; rm -f $(DESTDIR)$(UNITDIR)/$${b%.in}; done
	for f in xinetd.d/*.in; do b=$${f##*/}; rm -f $(DESTDIR)$(XINETDDIR)/$${b%.in}; done

clean:
	rm -rf build

.PHONY: all test check run bench fuzz fuzz-deps lint install install-units uninstall clean
