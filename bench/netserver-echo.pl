#!/usr/bin/perl
# The seed's engine for comparison: a Net::Server::INET echo under the same activator.
package InetEcho;
use strict;
use warnings;
use base 'Net::Server::INET';

sub process_request {
	$| = 1;
	while (my $line = <STDIN>) {
		print $line;
	}
}

InetEcho->run(log_level => 0);
