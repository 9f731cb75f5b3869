/*
 * Two cJSON trees compared node by node, in order (tests/unit_json and
 * the fuzz_jsonrpc target: json_parse_scoped's tree must be the one
 * cJSON builds).  Not cJSON_Compare: it looks members up by name, and an
 * object with a key twice ("id":1 ... "id":2) then differs from itself.
 */
#ifndef BATON_TESTS_JSON_TREE_H
#define BATON_TESTS_JSON_TREE_H

#include <string.h>

#include <cjson/cJSON.h>

/* Are a and b the same tree, down to the links and fields cJSON's users read? */
static inline int
same_tree(const cJSON *a, const cJSON *b)
{
	const cJSON *x, *y;

	if (a == NULL || b == NULL)
		return (a == b);
	if (a->type != b->type || a->valueint != b->valueint ||
	    memcmp(&a->valuedouble, &b->valuedouble, sizeof a->valuedouble) != 0 ||
	    (a->string == NULL) != (b->string == NULL) ||
	    (a->string != NULL && strcmp(a->string, b->string) != 0) ||
	    (a->valuestring == NULL) != (b->valuestring == NULL) ||
	    (a->valuestring != NULL && strcmp(a->valuestring, b->valuestring) != 0) ||
	    (a->child == NULL) != (b->child == NULL))
		return (0);
	if (a->child != NULL &&
	    (a->child->prev == NULL || b->child->prev == NULL || a->child->prev->next != NULL ||
		b->child->prev->next != NULL))
		return (0);
	for (x = a->child, y = b->child; x != NULL || y != NULL; x = x->next, y = y->next) {
		if (x == NULL || y == NULL || !same_tree(x, y) ||
		    (x != a->child && (x->prev->next != x || y->prev->next != y)))
			return (0);
	}
	return (1);
}

#endif /* BATON_TESTS_JSON_TREE_H */
