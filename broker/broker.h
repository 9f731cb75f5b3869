#ifndef BATON_BROKER_H
#define BATON_BROKER_H
#endif
