# inetkit-cmdserver: linked dynamically, because PAM loads its modules at run
# time (dlopen from a static binary is not supported by glibc).
PROGS += cmdserver

# The auth module (htpasswd and PAM backends) is for any service that logs
# users in; utmp is who(1)'s reader.
AUTH_OBJ = $(BUILD)/common/auth.o $(BUILD)/common/htpasswd.o $(BUILD)/common/pamauth.o
AUTH_LIBS := $(shell pkg-config --libs pam libcrypt libmd 2>/dev/null || echo -lpam -lcrypt -lmd)
AUTH_CFLAGS := $(shell pkg-config --cflags pam libcrypt libmd 2>/dev/null)
CMDSERVER_OBJ = $(BUILD)/cmd/cmdserver.o $(AUTH_OBJ) $(BUILD)/common/utmp.o

$(AUTH_OBJ): ALL_CFLAGS += $(AUTH_CFLAGS)

$(BUILD)/cmdserver: $(CMDSERVER_OBJ) $(BUILD)/libio.a
	$(CC) -pie -Wl,-z,relro -Wl,-z,now $(LDFLAGS) -o $@ $(CMDSERVER_OBJ) $(BUILD)/libio.a \
	    $(AUTH_LIBS)
