/* A shared object that exports no descriptor at all. */
#include <posthorn/posthorn.h>

int no_descriptor_answer (void);

int
no_descriptor_answer (void)
{
  return 42;
}
