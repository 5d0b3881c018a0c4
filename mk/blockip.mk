# blockip: the block-list wrapper. It loads no module at run time, so it is
# linked statically like echo; its list logic is libio's blocklist module.
PROGS     += blockip

$(BUILD)/blockip: $(BUILD)/cmd/blockip.o $(BUILD)/libio.a
	$(CC) $(STATIC_LDFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libio.a
