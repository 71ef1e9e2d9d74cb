#include "common/service_router.h"

#include "common/topics.h"

namespace messagecorps::services {

RouterConfig ServiceRouterConfig(const program::Program& program, const std::string& group,
                                 StartOffset start) {
  RouterConfig rc;
  rc.client = program.client();
  rc.consumer.group_id = group;
  rc.consumer.start = start;
  rc.producer.envelope = program.envelope();
  ApplyLiveConsumerDefaults(rc.consumer_properties, rc.client);
  rc.close_timeout = kServiceCloseTimeout;
  return rc;
}

}  // namespace messagecorps::services
