# The mod_perl 2 documentation's example of a protocol handler ("Protocol
# Handlers", "Socket-based Protocol Module"), as it gives it: the echo that
# make bench runs in Apache 2.4 prefork (bench/run).
#file:MyApache2/EchoSocket.pm
#----------------------------
package MyApache2::EchoSocket;

use strict;
use warnings FATAL => 'all';

use Apache2::Connection ();
use APR::Socket ();

use Apache2::Const -compile => 'OK';
use APR::Const     -compile => 'SO_NONBLOCK';

use constant BUFF_LEN => 1024;

sub handler {
    my $c = shift;
    my $sock = $c->client_socket;

    # set the socket to the blocking mode
    $sock->opt_set(APR::Const::SO_NONBLOCK => 0);

    while ($sock->recv(my $buff, BUFF_LEN)) {
        last if $buff =~ /^[\r\n]+$/;
        $sock->send($buff);
    }

    Apache2::Const::OK;
}
1;
